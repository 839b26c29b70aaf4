/**
 * A deliberately broken directory for must-fail tests: the real in-repo directory behind a server that
 * answers `GET /api/v1/discover` without an intent with 200 and an empty list (the spec wants 422). One
 * well-behaved chat node is registered, as the dispatch profile's ticket case needs a route to hand out.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { createDirectory } from '@iicp/directory'
import { startFaultNode } from '../../src/index.js'

export interface BrokenDirectory {
  readonly url: string
  close(): Promise<void>
}

export async function startDirectoryAcceptingMissingIntent(): Promise<BrokenDirectory> {
  const directory = await createDirectory({ mode: 'local', pruneIntervalMs: 0, skipLivenessCheck: true })
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && url.pathname === '/api/v1/discover' && !url.searchParams.has('intent')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ nodes: [], count: 0, query_ms: 0 }))
      return
    }
    directory.listener(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const chatNode = await startFaultNode({ behaviour: 'ok', intents: ['urn:iicp:intent:llm:chat:v1'] })
  const res = await request(`${url}/api/v1/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatNode.registrationBody()),
  })
  await res.body.dump()
  if (res.statusCode !== 201) throw new Error(`seed node refused: HTTP ${res.statusCode}`)
  return {
    url,
    async close() {
      await chatNode.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await directory.close()
    },
  }
}
