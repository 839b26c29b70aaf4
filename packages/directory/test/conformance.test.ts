/**
 * Runs every case of the spec's three directory conformance manifests (directory-public-v1,
 * directory-dispatch-v1, directory-lifecycle-v1) over real HTTP against startDirectory, with the same
 * status and assertion rules as the spec's black-box runner (state capture and ${var} substitution
 * included). The dispatch profile gets a live chat node: a real health server registered with the
 * liveness probe on.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, registerBody, startHealthServer } from './http-support.js'

interface Case {
  id: string
  method: string
  path: string
  body?: unknown
  headers?: Record<string, string>
  status: number
  assertion: string
  capture?: Record<string, string>
}
interface Manifest { profile: string; tests: Case[] }

const FIXTURES = new URL('../../../fixtures/spec/conformance-runner/src/iicp_conformance/fixtures/', import.meta.url)
function manifest(name: string): Manifest {
  return JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as Manifest
}

/** The spec runner's assertion_passes, as a predicate over the response text. */
function assertionPasses(name: string, text: string): boolean {
  if (name === 'none') return true
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return false
  }
  if (typeof v !== 'object' || v === null) return false
  const o = v as Record<string, unknown>
  const err = o.error as Record<string, unknown> | undefined
  const nodes = o.nodes
  switch (name) {
    case 'discovery_shape': return Array.isArray(nodes) && Number.isInteger(o.count)
    case 'score_range':
      return Array.isArray(nodes) && nodes.every((n: Record<string, unknown>) => typeof n.score === 'number' && n.score >= 0.1 && n.score <= 1)
    case 'json_error': return typeof err === 'object' && err !== null && typeof err.code === 'string'
    case 'json_error_without_fixture_content':
      return typeof err === 'object' && err !== null && typeof err.code === 'string' && !text.includes('fixture-only')
    case 'dispatch_ticket_shape':
      return typeof o.ticket === 'string' && o.ticket.length > 0 && typeof o.route === 'object' && o.route !== null
        && o.data_class === 'ticketed_route_dispatch' && o.route_fields_present === true && o.prompt_payload_accepted === false
    case 'registration_shape':
      return typeof o.node_id === 'string' && o.node_id.length > 0 && typeof o.node_token === 'string' && o.node_token.length > 0
    case 'heartbeat_shape': return o.ok === true && Number.isInteger(o.next_heartbeat_ms) && (o.next_heartbeat_ms as number) > 0
    case 'deregister_shape': return o.deregistered === true
    default:
      if (name.startsWith('error_code:')) return typeof err === 'object' && err !== null && err.code === name.slice('error_code:'.length)
      return false
  }
}

function resolve<T>(value: T, state: Record<string, string>): T {
  return JSON.parse(JSON.stringify(value).replace(/\$\{([a-z][a-z0-9_]{0,63})\}/g, (_, k: string) => {
    const s = state[k]
    if (s === undefined) throw new Error(`state ${k} unavailable`)
    return s
  })) as T
}

function capture(text: string, paths: Record<string, string>): Record<string, string> {
  const value = JSON.parse(text) as Record<string, unknown>
  const out: Record<string, string> = {}
  for (const [name, path] of Object.entries(paths)) {
    let cur: unknown = value
    for (const part of path.split('.')) cur = (cur as Record<string, unknown>)[part]
    if (typeof cur !== 'string' || cur.length === 0) throw new Error(`capture ${name} failed`)
    out[name] = cur
  }
  return out
}

function runProfile(name: string, origin: () => string): void {
  const m = manifest(name)
  const state: Record<string, string> = {}
  // Cases depend on earlier captures, so they run in order inside one describe.
  for (const c of m.tests) {
    it(`${c.id} answers ${c.status} and passes its ${c.assertion} assertion`, async () => {
      const r = resolve(c, state)
      const hasBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method)
      const res = await call(origin(), r.method, r.path, { headers: r.headers, ...(hasBody ? { body: r.body ?? {} } : {}) })
      expect(res.status).toBe(c.status)
      expect(assertionPasses(c.assertion, res.text)).toBe(true)
      // Whatever the status, the answer is JSON, never HTML.
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      if (c.capture) Object.assign(state, capture(res.text, c.capture))
    })
  }
}

describe('directory-public-v1', () => {
  let dir: RunningDirectory
  let node: Awaited<ReturnType<typeof startHealthServer>>
  beforeAll(async () => {
    dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
    node = await startHealthServer()
    // A registered node makes DIR-DISC-04's score check bite on a real entry.
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    expect(reg.status).toBe(201)
  })
  afterAll(async () => {
    await dir.close()
    await node.close()
  })
  it('has a live node to discover before the cases run', async () => {
    const r = await call(dir.url, 'GET', '/api/v1/discover?intent=urn:iicp:intent:llm:chat:v1')
    expect(r.json.count).toBe(1)
  })
  runProfile('directory-public-v1', () => dir.url)
})

describe('directory-dispatch-v1', () => {
  let dir: RunningDirectory
  let node: Awaited<ReturnType<typeof startHealthServer>>
  beforeAll(async () => {
    dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
    node = await startHealthServer()
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    expect(reg.status).toBe(201)
    expect(node.hits()).toBe(1)
  })
  afterAll(async () => {
    await dir.close()
    await node.close()
  })
  runProfile('directory-dispatch-v1', () => dir.url)
})

describe('directory-lifecycle-v1', () => {
  let dir: RunningDirectory
  beforeAll(async () => {
    // The fixture registers https://node.example.com, which must never be contacted: the probe is off,
    // as IICP_SKIP_LIVENESS_CHECK=true does for the reference directory.
    dir = await startDirectory({ port: 0, mode: 'local', skipLivenessCheck: true, pruneIntervalMs: 0 })
  })
  afterAll(async () => {
    await dir.close()
  })
  runProfile('directory-lifecycle-v1', () => dir.url)
})
