/**
 * Federation redirects for the local mesh (fed §6.1–6.2; cts DIR-FED-05/06): a loopback server that answers
 * every request with `307` and the seed-redirect headers, either to the real directory (a replica sending
 * clients to the seed) or to itself (a redirect loop a client must give up on after 3 hops).
 */
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** A running redirecting directory. */
export interface RedirectingDirectory {
  /** Origin; `${url}/api` is the directoryUrl a client is given. */
  readonly url: string
  /** Requests received for `METHOD /path`. */
  count(method: string, path: string): number
  /** Stop listening; idempotent. */
  close(): Promise<void>
}

/** Start one on 127.0.0.1; `target` is the origin to send clients to, or `self` for a loop. */
export async function startRedirectingDirectory(target: string | 'self'): Promise<RedirectingDirectory> {
  const counts = new Map<string, number>()
  const sockets = new Set<Socket>()
  let origin = ''
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const key = `${req.method ?? 'GET'} ${path}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
    req.resume()
    res.writeHead(307, {
      location: `${target === 'self' ? origin : target}${req.url ?? '/'}`,
      'x-iicp-seed-redirect': 'true',
      'x-iicp-replica-trust': 'high',
      'retry-after': '5',
      'content-length': '0',
    })
    res.end()
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closing: Promise<void> | undefined
  return {
    url: origin,
    count: (method, path) => counts.get(`${method} ${path}`) ?? 0,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
      return closing
    },
  }
}
