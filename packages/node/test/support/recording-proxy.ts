/** A loopback HTTP proxy in front of the real directory that records every exchange (bodies as JSON) and can script answers. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'

export interface Exchange {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: unknown
  status: number
  response: unknown
}

/** A scripted answer that replaces the directory's for one request (status and JSON body). */
export interface ScriptedAnswer {
  status: number
  body: unknown
}

/**
 * `script` sees each request before it is forwarded; an answer it returns goes back instead of the directory's
 * (the directory never sees that request), and is recorded like any other exchange. `rewrite` may change a
 * request body before it is forwarded (to play a directory that ignores a field); the original is recorded.
 */
export async function recordingProxy(
  target: string,
  script?: (req: { method: string; path: string; body: unknown }) => ScriptedAnswer | undefined,
  rewrite?: (req: { method: string; path: string; body: unknown }) => unknown,
): Promise<{ apiUrl: string; exchanges: Exchange[]; close: () => Promise<void> }> {
  const exchanges: Exchange[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const scripted = script?.({ method: req.method ?? 'GET', path: req.url ?? '/', body: text === '' ? undefined : JSON.parse(text) })
      if (scripted !== undefined) {
        exchanges.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: text === '' ? undefined : JSON.parse(text), status: scripted.status, response: scripted.body })
        res.writeHead(scripted.status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(scripted.body))
        return
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v
      const sent = rewrite === undefined || text === '' ? text : JSON.stringify(rewrite({ method: req.method ?? 'GET', path: req.url ?? '/', body: JSON.parse(text) }))
      if (sent !== text) delete headers['content-length']
      void request(target + (req.url ?? '/'), { method: (req.method ?? 'GET') as 'GET', headers, body: sent === '' ? null : sent }).then(async (up) => {
        const out = await up.body.text()
        exchanges.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: text === '' ? undefined : JSON.parse(text), status: up.statusCode, response: out === '' ? undefined : JSON.parse(out) })
        res.writeHead(up.statusCode, { 'content-type': 'application/json' })
        res.end(out)
      }, () => {
        res.writeHead(502, { 'content-type': 'application/json' })
        res.end('{"error":{"code":"bad_gateway","message":"proxy"}}')
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`
  return { apiUrl, exchanges, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}
