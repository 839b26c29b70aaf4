/**
 * A tiny scripted directory on 127.0.0.1:0 for the cases the real one cannot produce on demand: federation
 * 307 redirects, a directory without ticket endpoints, tickets signed by the wrong issuer or key. Each request is
 * recorded and answered by the test's handler.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
}

export interface FakeReply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

export interface FakeDirectory {
  /** Origin, e.g. http://127.0.0.1:1234 */
  readonly origin: string
  /** origin + /api */
  readonly apiUrl: string
  readonly requests: FakeRequest[]
  close(): Promise<void>
}

export async function startFakeDirectory(handler: (req: FakeRequest, origin: string) => FakeReply | Promise<FakeReply>): Promise<FakeDirectory> {
  const requests: FakeRequest[] = []
  let origin = ''
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const fr: FakeRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: text ? (JSON.parse(text) as unknown) : undefined }
      requests.push(fr)
      void Promise.resolve(handler(fr, origin)).then((r) => {
        const out = r.body === undefined ? '' : JSON.stringify(r.body)
        res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), ...r.headers })
        res.end(out)
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    apiUrl: `${origin}/api`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}
