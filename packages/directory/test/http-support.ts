/** Shared test plumbing: a tiny JSON HTTP caller over undici and a real node health server on loopback. */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'

export interface CallResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: Record<string, unknown>
}

export interface CallOptions {
  body?: unknown
  /** Raw body text, sent as is (for malformed JSON). */
  raw?: string
  token?: string
  headers?: Record<string, string>
}

/** One HTTP request; the body parsed as JSON (or `{}` when it is not JSON, with `text` kept). */
export async function call(origin: string, method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers }
  let body: string | undefined
  if (opts.raw !== undefined) body = opts.raw
  else if (opts.body !== undefined) body = JSON.stringify(opts.body)
  if (body !== undefined) headers['content-type'] ??= 'application/json'
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  const res = await request(`${origin}${path}`, { method: method as 'GET', headers, body })
  const text = await res.body.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    json = {}
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

/** The error object of a JSON error answer. */
export function errorOf(r: CallResult): { code: string; message: string; fields?: Record<string, string[]> } {
  return r.json.error as { code: string; message: string; fields?: Record<string, string[]> }
}

/** A node's `/iicp/health` on 127.0.0.1:0 answering `status` (200 by default). */
export async function startHealthServer(status = 200): Promise<{ url: string; server: Server; hits: () => number; close: () => Promise<void> }> {
  let hits = 0
  const server = createServer((req, res) => {
    if (req.url === '/iicp/health') hits++
    res.writeHead(req.url === '/iicp/health' ? status : 404, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ status: 'ok', load: 0, active_jobs: 0, max_concurrent: 4, available: true, models: ['m'] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

/** A valid REGISTER body for `endpoint`. */
export function registerBody(endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    endpoint,
    region: 'eu-central',
    capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['fixture-model'], max_tokens: 4096 }],
    limits: { max_concurrent: 4, tokens_per_min: 1000 },
    ...extra,
  }
}

/** A settable clock for expiry tests. */
export function manualClock(start = Date.UTC(2026, 10, 26, 12, 0, 0)): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}
