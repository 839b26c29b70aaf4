/** Find a run of free loopback ports, so port-search tests never collide with a real 9484 node. */
import { createServer } from 'node:net'

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/** A base port whose next `count` ports are all free right now. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    let ok = true
    for (let i = 0; i < count && ok; i++) ok = await free(base + i)
    if (ok) return base
  }
  throw new Error('no free port run found')
}
