/** A loopback HTTP proxy in front of the real directory that records every exchange (bodies as JSON). */
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

export async function recordingProxy(target: string): Promise<{ apiUrl: string; exchanges: Exchange[]; close: () => Promise<void> }> {
  const exchanges: Exchange[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v
      void request(target + (req.url ?? '/'), { method: (req.method ?? 'GET') as 'GET', headers, body: text === '' ? null : text }).then(async (up) => {
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
