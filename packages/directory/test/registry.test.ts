/**
 * The public registry inventory (`/api/v1/registry/{nodes,intents,stats}`, dir §3.4; one node by id or
 * prefix at `/registry/nodes/{prefix}`, as the official SDKs' recovery check reads it) and the origin-root
 * documents (`/.well-known/iicp-intents.json`, `did.json`, `iicp-replicas.json`) over real HTTP: the
 * inventory counts only nodes discover could return, pages in a stable order, validates its filters and
 * never carries a full node id, an endpoint, an address, a key or a token; the DID document carries the key
 * that verifies the directory's tickets; the intent registry is the spec's document.
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { verifyDispatchTicket } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const EMBED = 'urn:iicp:intent:llm:embedding:v1'
const FIXTURE = new URL('../../../fixtures/spec/registry/intents.json', import.meta.url)
const SHIPPED = new URL('../src/intent-registry.json', import.meta.url)
const CX_KEY = { algorithm: 'X25519', encoding: 'base64url', key: 'Gb3mwPjEwgWbMtjGL6KG2cxmuw413H6oL39DD0UsHzg', key_id: 'cx-0c4ab33480ce633e' }

interface Registered { id: string; token: string; hmac: string; proxy: string }

describe('the registry inventory', () => {
  let dir: RunningDirectory
  const clock = manualClock()
  const secrets: string[] = []
  const nodes = new Map<string, Registered>()

  async function register(id: string, extra: Record<string, unknown>): Promise<Registered> {
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: id, ...extra }) })
    expect(r.status).toBe(201)
    const reg = { id, token: r.json.node_token as string, hmac: r.json.node_hmac_key as string, proxy: r.json.proxy_token as string }
    secrets.push(reg.token, reg.hmac, reg.proxy)
    nodes.set(id, reg)
    return reg
  }

  beforeEach(async () => {
    secrets.length = 0
    nodes.clear()
    dir = await startDirectory({ port: 0, clock: clock.now, pruneIntervalMs: 0, skipLivenessCheck: true })
    await register('charlie-node-0003', { region: 'us-west', policy: { allow_remote_inference: true }, pricing: { credit_cost_multiplier: 2 } })
    await register('alpha-node-0001', { cx_public_key: CX_KEY, relay_capable: true, capabilities: [
      { intent: CHAT, models: ['m-a'], max_tokens: 100, quantization: 'q4_k_m', inference_engine: 'llama.cpp' },
      { intent: EMBED, models: ['e-a'], max_tokens: 100 },
    ] })
    await register('bravo-node-0002', { backend: 'ollama', sdk_language: 'python', sdk_version: '0.7.107' })
    const busy = await register('delta-node-0004', {})
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token: busy.token, body: { node_id: busy.id, available: false } })
  })
  afterEach(async () => {
    await dir.close()
  })

  function noSecrets(text: string): void {
    for (const s of secrets) expect(text).not.toContain(s)
    for (const id of nodes.keys()) expect(text).not.toContain(id)
    expect(text).not.toContain('127.0.0.1')
    expect(text).not.toContain(CX_KEY.key)
  }

  it('lists the live nodes in id order with presentation-safe fields only', async () => {
    const r = await call(dir.url, 'GET', '/api/v1/registry/nodes')
    expect(r.status).toBe(200)
    expect(r.headers['cache-control']).toBe('public, max-age=10')
    expect(r.json).toMatchObject({ total: 3, page: 1, limit: 20, data_class: 'public_presentation', route_fields_present: false })
    const list = r.json.nodes as Array<Record<string, unknown>>
    expect(list.map((n) => n.node_id_prefix)).toEqual(['alpha-no', 'bravo-no', 'charlie-'])
    expect(list[0]).toEqual({
      node_id_prefix: 'alpha-no', region: 'eu-central', reputation_score: 0.5, reputation_tier: 'silver', probation: true,
      completed_tasks_count: 0, intents: [CHAT, EMBED], models: ['m-a', 'e-a'], input_modalities: ['text'], quantization: ['q4_k_m'],
      inference_engine: ['llama.cpp'], backend: null, route_class: 'direct', key_ready: true, relay_capable: true,
      credit_cost_multiplier: 1, pricing_model: 'per_token', attested: false, cip_enabled: false, sdk_language: null, sdk_version: null,
      last_seen: new Date(clock.now()).toISOString(),
    })
    expect(list[1]).toMatchObject({ backend: 'ollama', sdk_language: 'python', sdk_version: '0.7.107', key_ready: false })
    expect(list[2]).toMatchObject({ region: 'us-west', cip_enabled: true, credit_cost_multiplier: 2 })
    noSecrets(r.text)
  })

  it('filters by intent, region and cip_enabled and pages with a stable total', async () => {
    const prefixes = async (query: string): Promise<unknown[]> =>
      ((await call(dir.url, 'GET', `/api/v1/registry/nodes?${query}`)).json.nodes as Array<Record<string, unknown>>).map((n) => n.node_id_prefix)
    expect(await prefixes(`intent=${encodeURIComponent(EMBED)}`)).toEqual(['alpha-no'])
    expect(await prefixes('region=us-west')).toEqual(['charlie-'])
    expect(await prefixes('cip_enabled=true')).toEqual(['charlie-'])
    expect(await prefixes('cip_enabled=0')).toEqual(['alpha-no', 'bravo-no'])
    const page2 = await call(dir.url, 'GET', '/api/v1/registry/nodes?limit=1&page=2')
    expect(page2.json).toMatchObject({ total: 3, page: 2, limit: 1 })
    expect((page2.json.nodes as Array<Record<string, unknown>>).map((n) => n.node_id_prefix)).toEqual(['bravo-no'])
    const beyond = await call(dir.url, 'GET', '/api/v1/registry/nodes?limit=2&page=3')
    expect(beyond.json).toMatchObject({ total: 3, nodes: [] })
  })

  it('drops a node from the inventory once its heartbeat window passes', async () => {
    clock.advance(90_000)
    const r = await call(dir.url, 'GET', '/api/v1/registry/nodes')
    expect(r.json).toMatchObject({ total: 0, nodes: [] })
    const stats = await call(dir.url, 'GET', '/api/v1/registry/stats')
    expect(stats.json).toMatchObject({ total_nodes: 4, active_nodes: 0, regions: [], intents_supported: [] })
  })

  it('refuses bad filters with 422 naming the field', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=2.5', 'limit'], ['page=0', 'page'], ['page=', 'page'],
      ['cip_enabled=maybe', 'cip_enabled'], ['intent=not-a-urn', 'intent'], [`region=${'r'.repeat(65)}`, 'region'],
    ] as const) {
      const r = await call(dir.url, 'GET', `/api/v1/registry/nodes?${query}`)
      expect(r.status, query).toBe(422)
      expect(errorOf(r).code).toBe('validation_error')
      expect(Object.keys(errorOf(r).fields ?? {})).toEqual([field])
    }
  })

  it('answers any query string with 200 or a 422 naming a field, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('intent', 'region', 'cip_enabled', 'page', 'limit', 'other'), fc.string({ maxLength: 12 })),
        fc.constantFrom('nodes', 'intents', 'stats'),
        async (params, route) => {
          const r = await call(dir.url, 'GET', `/api/v1/registry/${route}?${new URLSearchParams(params).toString()}`)
          if (r.status === 200) return
          expect(r.status).toBe(422)
          expect(errorOf(r).code).toBe('validation_error')
          expect(Object.keys(errorOf(r).fields ?? {})).toHaveLength(1)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('looks up one live node by its full id or an unambiguous prefix, redacted as in the list', async () => {
    const list = (await call(dir.url, 'GET', '/api/v1/registry/nodes')).json.nodes as Array<Record<string, unknown>>
    const byId = await call(dir.url, 'GET', '/api/v1/registry/nodes/alpha-node-0001')
    expect(byId.status).toBe(200)
    expect(byId.headers['cache-control']).toBe('public, max-age=10')
    expect(byId.json).toEqual({ ...list[0], available: true, data_class: 'public_presentation', route_fields_present: false })
    noSecrets(byId.text)
    const byPrefix = await call(dir.url, 'GET', '/api/v1/registry/nodes/brav')
    expect(byPrefix.status).toBe(200)
    expect(byPrefix.json).toMatchObject({ node_id_prefix: 'bravo-no', backend: 'ollama', sdk_language: 'python' })
    noSecrets(byPrefix.text)
    // What the official SDKs send for a UUID node id: its first 8 characters.
    const uuid = await register(randomUUID(), {})
    const sdkCheck = await call(dir.url, 'GET', `/api/v1/registry/nodes/${uuid.id.slice(0, 8)}`)
    expect(sdkCheck.status).toBe(200)
    expect(sdkCheck.json.node_id_prefix).toBe(uuid.id.slice(0, 8))
    noSecrets(sdkCheck.text)
    // Out of discover by its own choice, yet present: a 404 would send an official SDK node to register again.
    const busy = await call(dir.url, 'GET', '/api/v1/registry/nodes/delt')
    expect(busy.status).toBe(200)
    expect(busy.json).toMatchObject({ node_id_prefix: 'delta-no', available: false })
    noSecrets(busy.text)
  })

  it('answers 404 for an unknown or dormant node, 409 for an ambiguous prefix and 422 for a malformed one', async () => {
    // The error code, or the node found.
    const code = async (key: string): Promise<[number, unknown]> => {
      const r = await call(dir.url, 'GET', `/api/v1/registry/nodes/${encodeURIComponent(key)}`)
      return [r.status, r.status === 200 ? r.json.node_id_prefix : errorOf(r).code]
    }
    expect(await code('zulu-node')).toEqual([404, 'not_found'])
    // Under four characters a prefix selects nothing, even when it would be unique.
    expect(await code('cha')).toEqual([404, 'not_found'])
    await register('alpha-node-0009', {})
    expect(await code('alpha-node-000')).toEqual([409, 'ambiguous_node_prefix'])
    expect(await code('alpha-node-0009')).toEqual([200, 'alpha-no'])
    expect(await code('char')).toEqual([200, 'charlie-'])
    for (const bad of ['bad id!', 'a/b', 'x'.repeat(37), '-leading-dash']) {
      const r = await call(dir.url, 'GET', `/api/v1/registry/nodes/${encodeURIComponent(bad)}`)
      expect(r.status, bad).toBe(422)
      expect(Object.keys(errorOf(r).fields ?? {})).toEqual(['prefix'])
    }
    clock.advance(90_000)
    expect(await code('alpha-node-0001')).toEqual([404, 'not_found'])
    expect(await code('alpha')).toEqual([404, 'not_found'])
  })

  it('answers any node lookup with 200, 404, 409 or 422, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), async (key) => {
        const r = await call(dir.url, 'GET', `/api/v1/registry/nodes/${encodeURIComponent(key)}`)
        expect([200, 404, 409, 422]).toContain(r.status)
        expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
      }),
      { numRuns: 60 },
    )
  })

  it('counts the live nodes per intent, most served first', async () => {
    const r = await call(dir.url, 'GET', '/api/v1/registry/intents')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ intents: [{ urn: CHAT, node_count: 3 }, { urn: EMBED, node_count: 1 }], count: 2 })
  })

  it('summarises registered and live nodes, regions and intent coverage', async () => {
    const r = await call(dir.url, 'GET', '/api/v1/registry/stats')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({
      total_nodes: 4, active_nodes: 3,
      regions: ['eu-central', 'us-west'], region_breakdown: { 'eu-central': 2, 'us-west': 1 },
      intents_supported: [CHAT, EMBED], intent_coverage: { [CHAT]: 3, [EMBED]: 1 },
    })
    noSecrets(r.text)
  })
})

describe('the origin-root documents', () => {
  let dir: RunningDirectory
  beforeEach(async () => {
    dir = await startDirectory({ port: 0, pruneIntervalMs: 0, skipLivenessCheck: true })
  })
  afterEach(async () => {
    await dir.close()
  })

  it('serves the spec intent registry, and ships it byte for byte as in fixtures/', async () => {
    const fixture = await readFile(FIXTURE, 'utf8')
    expect(await readFile(SHIPPED, 'utf8')).toBe(fixture)
    const r = await call(dir.url, 'GET', '/.well-known/iicp-intents.json')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.headers['cache-control']).toBe('public, max-age=3600')
    expect(r.json).toEqual(JSON.parse(fixture))
    expect((await call(dir.url, 'GET', '/.well-known/iicp-intents.json')).text).toBe(r.text)
  })

  it('publishes its ticket key as a did:web document that verifies its dispatch tickets', async () => {
    const r = await call(dir.url, 'GET', '/.well-known/did.json')
    expect(r.status).toBe(200)
    const did = `did:web:127.0.0.1%3A${dir.port}`
    const doc = r.json as { id: string; verificationMethod: Array<{ id: string; controller: string; publicKeyJwk: { kty: string; crv: string; x: string } }>; assertionMethod: string[] }
    expect(doc.id).toBe(did)
    const vm = doc.verificationMethod[0]
    expect(vm).toMatchObject({ id: `${did}#directory-key`, controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519' } })
    expect(doc.assertionMethod).toEqual([`${did}#directory-key`])
    const publicKeyHex = Buffer.from(vm?.publicKeyJwk.x ?? '', 'base64url').toString('hex')
    expect(publicKeyHex).toBe(dir.publicKeyHex)

    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'did-check' }) })
    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT } })
    const verified = await verifyDispatchTicket(t.json.ticket as string, {
      publicKeyHex, issuer: dir.url, audience: 'iicp.directory.dispatch', nodeId: 'did-check', intent: CHAT,
    })
    expect(verified.ok).toBe(true)
  })

  it('names the configured public origin in its DID', async () => {
    const pub = await startDirectory({ port: 0, pruneIntervalMs: 0, publicOrigin: 'https://dir.example.org' })
    try {
      expect((await call(pub.url, 'GET', '/.well-known/did.json')).json.id).toBe('did:web:dir.example.org')
    } finally {
      await pub.close()
    }
  })

  it('refuses a DID request whose Host header names no valid origin with a JSON 400', async () => {
    // node:http, because undici refuses to send such a Host header at all.
    const get = (host: string): Promise<{ status: number; json: { error?: { code: string; fields?: Record<string, string[]> } } }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: dir.port, path: '/.well-known/did.json', headers: { host } }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (text += c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string } } }))
        })
        req.on('error', reject)
        req.end()
      })
    for (const host of ['a b', '[::1', 'x:99999']) {
      const r = await get(host)
      expect(r.status, host).toBe(400)
      expect(r.json.error?.code).toBe('validation_error')
      expect(Object.keys(r.json.error?.fields ?? {})).toEqual(['host'])
    }
  })

  it('answers the replicas registry with a JSON 404, having no replicas', async () => {
    const r = await call(dir.url, 'GET', '/.well-known/iicp-replicas.json')
    expect(r.status).toBe(404)
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(errorOf(r).code).toBe('not_found')
  })
})
