/**
 * Bad input tried per endpoint — missing fields, wrong types, malformed JSON, oversize bodies, bad tokens,
 * unknown routes and wrong methods, and HTTP the parser rejects, sent on a raw socket — always yields a
 * JSON error with the right status and code (never HTML or bare text, never the token or payload echoed),
 * and the directory keeps serving afterwards.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDirectory, startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, registerBody } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'

/** Write `bytes` on a fresh connection and read until the server closes it. */
async function rawExchange(port: number, bytes: string): Promise<{ statusLine: string; headers: Record<string, string>; body: string }> {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.write(bytes)
  await once(socket, 'close')
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusLine, headers, body: text.slice(split + 4) }
}

describe('bad input', () => {
  let dir: RunningDirectory
  let token = ''
  let nodeId = ''
  beforeAll(async () => {
    dir = await startDirectory({ port: 0, skipLivenessCheck: true, pruneIntervalMs: 0, rateLimits: { register: false } })
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    token = reg.json.node_token as string
    nodeId = reg.json.node_id as string
  })
  afterAll(async () => {
    await dir.close()
  })

  const cases: Array<{ name: string; method: string; path: string; body?: unknown; raw?: string; auth?: 'good' | 'bad' | 'none'; status: number; code: string; field?: string }> = [
    { name: 'register with an empty body', method: 'POST', path: '/api/v1/register', body: {}, status: 422, code: 'validation_error', field: 'endpoint' },
    { name: 'register with malformed JSON', method: 'POST', path: '/api/v1/register', raw: '{"endpoint":', status: 400, code: 'invalid_json' },
    { name: 'register with a JSON array', method: 'POST', path: '/api/v1/register', raw: '[1,2]', status: 422, code: 'validation_error' },
    { name: 'register with max_concurrent as a string', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { limits: { max_concurrent: '4' } }), status: 422, code: 'validation_error', field: 'limits.max_concurrent' },
    { name: 'register with an uppercase intent', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { capabilities: [{ intent: 'urn:iicp:intent:LLM:chat' }] }), status: 422, code: 'validation_error', field: 'capabilities.0.intent' },
    { name: 'register with a prohibited intent', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { capabilities: [{ intent: 'urn:iicp:intent:credit:decision:v1' }] }), status: 422, code: 'validation_error', field: 'capabilities.0.intent' },
    { name: 'register with an ftp endpoint', method: 'POST', path: '/api/v1/register', body: registerBody('ftp://127.0.0.1:21'), status: 422, code: 'validation_error', field: 'endpoint' },
    { name: 'register with a path-like implementation_name', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { implementation_name: '/Users/alice/node' }), status: 422, code: 'validation_error', field: 'implementation_name' },
    { name: 'register with a negative credit multiplier', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { pricing: { credit_cost_multiplier: -1 } }), status: 422, code: 'validation_error', field: 'pricing.credit_cost_multiplier' },
    { name: 'register with an unknown pricing model', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { pricing: { pricing_model: 'auction' } }), status: 422, code: 'validation_error', field: 'pricing.pricing_model' },
    { name: 'register with conflicting sdk versions', method: 'POST', path: '/api/v1/register', body: registerBody('http://127.0.0.1:9', { sdk_version: '1.0.0', sdk_compatibility_version: '2.0.0' }), status: 422, code: 'validation_error', field: 'sdk_compatibility_version' },
    { name: 'heartbeat without Authorization', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: 'x' }, auth: 'none', status: 401, code: 'unauthorized' },
    { name: 'heartbeat with a wrong token for a known node', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: '$ID' }, auth: 'bad', status: 401, code: 'unauthorized' },
    { name: 'heartbeat with a wrong token and no node id', method: 'POST', path: '/api/v1/heartbeat', body: {}, auth: 'bad', status: 401, code: 'unauthorized' },
    { name: 'heartbeat for an unknown node id with a wrong token', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: 'x' }, auth: 'bad', status: 404, code: 'not_found' },
    { name: 'heartbeat for an unknown node id with a valid token', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: 'someone-else' }, auth: 'good', status: 404, code: 'not_found' },
    { name: 'heartbeat with available as a string', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: '$ID', available: 'maybe' }, auth: 'good', status: 422, code: 'validation_error', field: 'available' },
    { name: 'heartbeat with too many tasks in a batch', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: '$ID', metrics: { tasks_success: 5000, tasks_failed: 0, avg_latency_ms: 1 }, metrics_batch_id: 'b' }, auth: 'good', status: 422, code: 'validation_error', field: 'metrics.tasks_success' },
    { name: 'heartbeat with metrics but no batch id', method: 'POST', path: '/api/v1/heartbeat', body: { node_id: '$ID', metrics: { tasks_success: 1, tasks_failed: 0, avg_latency_ms: 1 } }, auth: 'good', status: 422, code: 'validation_error', field: 'metrics_batch_id' },
    { name: 'heartbeat with malformed JSON', method: 'POST', path: '/api/v1/heartbeat', raw: 'not json', auth: 'good', status: 400, code: 'invalid_json' },
    { name: 'deregister without Authorization', method: 'DELETE', path: '/api/v1/register', body: { node_id: 'x' }, auth: 'none', status: 401, code: 'unauthorized' },
    { name: 'discover without intent', method: 'GET', path: '/api/v1/discover', status: 422, code: 'validation_error', field: 'intent' },
    { name: 'discover with a malformed intent', method: 'GET', path: '/api/v1/discover?intent=not-a-urn', status: 422, code: 'validation_error', field: 'intent' },
    { name: 'discover with an unknown qos', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&qos=fast`, status: 422, code: 'validation_error', field: 'qos' },
    { name: 'discover with limit 51', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&limit=51`, status: 422, code: 'validation_error', field: 'limit' },
    { name: 'discover with min_quality_score 1.5', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&min_quality_score=1.5`, status: 422, code: 'validation_error', field: 'min_quality_score' },
    { name: 'discover with a negative max_multiplier', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&max_multiplier=-1`, status: 422, code: 'validation_error', field: 'max_multiplier' },
    { name: 'discover with cip_capable maybe', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&cip_capable=maybe`, status: 422, code: 'validation_error', field: 'cip_capable' },
    { name: 'discover with min_reputation 2', method: 'GET', path: `/api/v1/discover?intent=${CHAT}&min_reputation=2.0`, status: 422, code: 'validation_error', field: 'min_reputation' },
    { name: 'dispatch ticket without intent', method: 'POST', path: '/api/v1/dispatch/ticket', body: {}, status: 422, code: 'validation_error', field: 'intent' },
    { name: 'dispatch ticket carrying messages', method: 'POST', path: '/api/v1/dispatch/ticket', body: { intent: CHAT, messages: [{ role: 'user', content: 'secret words' }] }, status: 422, code: 'validation_error', field: 'messages' },
    { name: 'dispatch ticket with a 3-char prefix', method: 'POST', path: '/api/v1/dispatch/ticket', body: { intent: CHAT, node_id_prefix: 'abc' }, status: 422, code: 'validation_error', field: 'node_id_prefix' },
    { name: 'dispatch ticket for an intent nobody serves', method: 'POST', path: '/api/v1/dispatch/ticket', body: { intent: 'urn:iicp:intent:x.acme:thing:v1' }, status: 404, code: 'no_route_available' },
    { name: 'relay ticket with a wrong token', method: 'POST', path: '/api/v1/relay/ticket', body: {}, auth: 'bad', status: 401, code: 'unauthorized' },
    { name: 'me without Authorization', method: 'GET', path: '/api/v1/me', auth: 'none', status: 401, code: 'unauthorized' },
    { name: 'node detail for an unknown id', method: 'GET', path: '/api/v1/node/nope', status: 404, code: 'not_found' },
    { name: 'bootstrap with limit 0', method: 'GET', path: '/api/v1/bootstrap?limit=0', status: 422, code: 'validation_error', field: 'limit' },
    { name: 'probe without host', method: 'GET', path: '/api/v1/probe', status: 422, code: 'validation_error', field: 'host' },
    { name: 'probe of localhost', method: 'GET', path: '/api/v1/probe?host=localhost&port=80', status: 422, code: 'private_address' },
    { name: 'probe of a public host on a local directory', method: 'GET', path: '/api/v1/probe?host=93.184.216.34&port=443', status: 403, code: 'forbidden' },
    { name: 'telemetry with a node token instead of a proxy token', method: 'POST', path: '/api/v1/telemetry', body: { node_id: 'x' }, auth: 'good', status: 401, code: 'IICP-E032' },
    { name: 'credits balance with a bad token', method: 'GET', path: '/api/v1/credits/balance', auth: 'bad', status: 401, code: 'unauthorized' },
    { name: 'credits balance with a good token', method: 'GET', path: '/api/v1/credits/balance', auth: 'good', status: 404, code: 'not_found' },
    { name: 'an unknown route', method: 'GET', path: '/api/v1/nope', status: 404, code: 'not_found' },
    { name: 'a path outside the API', method: 'GET', path: '/index.html', status: 404, code: 'not_found' },
    { name: 'GET on register', method: 'GET', path: '/api/v1/register', status: 405, code: 'method_not_allowed' },
    { name: 'PUT on discover', method: 'PUT', path: `/api/v1/discover?intent=${CHAT}`, body: {}, status: 405, code: 'method_not_allowed' },
  ]

  for (const c of cases) {
    it(`answers ${c.name} with ${c.status} ${c.code}`, async () => {
      const tok = c.auth === 'good' ? token : c.auth === 'bad' ? 'f'.repeat(64) : undefined
      const body = c.body === undefined ? undefined : JSON.parse(JSON.stringify(c.body).replaceAll('$ID', nodeId)) as unknown
      const r = await call(dir.url, c.method, c.path, { body, raw: c.raw, token: tok })
      expect(r.status).toBe(c.status)
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
      const err = errorOf(r)
      expect(err.code).toBe(c.code)
      expect(typeof err.message).toBe('string')
      if (c.field) expect(Object.keys(err.fields ?? {})).toContain(c.field)
      expect(r.text).not.toContain(token)
      expect(r.text).not.toContain('secret words')
      expect(r.text).not.toMatch(/at .*\.(ts|js):\d+/)
    })
  }

  it('answers a non-Bearer Authorization with 401 unauthorized naming the scheme it wants', async () => {
    const r = await call(dir.url, 'POST', '/api/v1/heartbeat', { body: { node_id: nodeId }, headers: { authorization: `Basic ${token}` } })
    expect(r.status).toBe(401)
    expect(errorOf(r)).toEqual({ code: 'unauthorized', message: 'Authorization scheme must be Bearer' })
    expect(r.text).not.toContain(token)
  })

  for (const [name, bytes] of [
    ['a non-numeric Content-Length', 'POST /api/v1/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: nope\r\n\r\n'],
    ['a garbage request line', '\u0001\u0002 not-http secret words\r\n\r\n'],
  ] as const) {
    it(`answers ${name} with a JSON 400 and closes the connection`, async () => {
      const r = await rawExchange(dir.port, bytes)
      expect(r.statusLine).toBe('HTTP/1.1 400 Bad Request')
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(r.headers.connection).toBe('close')
      expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body))
      expect(JSON.parse(r.body)).toEqual({ error: { code: 'validation_error', message: 'Malformed HTTP request' } })
      expect(r.body).not.toContain('secret words')
      expect((await call(dir.url, 'GET', '/iicp/health')).json).toEqual({ ok: true, role: 'directory', ready: true })
    })
  }

  it('gives an embedding server the same JSON answer through clientErrorListener', async () => {
    const embedded = await createDirectory({ skipLivenessCheck: true, pruneIntervalMs: 0 })
    const server = createServer(embedded.listener).on('clientError', embedded.clientErrorListener)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const r = await rawExchange((server.address() as AddressInfo).port, 'GET /iicp/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n')
      expect(r.statusLine).toBe('HTTP/1.1 400 Bad Request')
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'validation_error' } })
    } finally {
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() })
      await embedded.close()
    }
  })

  it('names the allowed methods on a 405', async () => {
    const r = await call(dir.url, 'GET', '/api/v1/heartbeat')
    expect(r.headers.allow).toBe('POST')
  })

  it('answers a CORS preflight on a known route and allows any origin on answers', async () => {
    const pre = await call(dir.url, 'OPTIONS', '/api/v1/discover')
    expect(pre.status).toBe(204)
    expect(pre.headers['access-control-allow-methods']).toBe('GET, OPTIONS')
    expect(pre.headers['access-control-allow-headers']).toContain('authorization')
    expect((await call(dir.url, 'GET', `/api/v1/discover?intent=${CHAT}`)).headers['access-control-allow-origin']).toBe('*')
  })

  it('refuses a body over the cap with 413 and keeps serving', async () => {
    const big = JSON.stringify({ endpoint: 'x'.repeat(70 * 1024) })
    const r = await call(dir.url, 'POST', '/api/v1/register', { raw: big })
    expect(r.status).toBe(413)
    expect(errorOf(r).code).toBe('payload_too_large')
    const ok = await call(dir.url, 'GET', '/iicp/health')
    expect(ok.json).toEqual({ ok: true, role: 'directory', ready: true })
  })

  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('answers arbitrary JSON bodies on every POST route with catalogue codes only', { timeout: 120_000 }, async () => {
    const routes = ['/api/v1/register', '/api/v1/heartbeat', '/api/v1/dispatch/ticket', '/api/v1/relay/ticket', '/api/v1/telemetry']
    const allowed = new Set(['validation_error', 'invalid_json', 'unauthorized', 'not_found', 'IICP-E032', 'no_route_available', 'liveness_failed', 'IICP-E050', 'IICP-E049'])
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue(), fc.boolean(), async (route, value, auth) => {
        const r = await call(dir.url, 'POST', route, { raw: JSON.stringify(value), token: auth ? token : undefined })
        if (r.status < 400) return
        expect(allowed.has(errorOf(r).code)).toBe(true)
        expect(r.status).toBeLessThan(500)
      }),
      { numRuns: 60 },
    )
    expect((await call(dir.url, 'GET', `/api/v1/discover?intent=${CHAT}`)).status).toBe(200)
  })
})
