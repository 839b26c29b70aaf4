/**
 * submit() against the real in-repo directory and real fault-injecting nodes on loopback: the happy path
 * (README SDK-01 discover → select → submit, SDK-02 task ids, SDK-03 intent checks), failover and backoff
 * (README SDK-05, spec SDK-01) for 503, 429 + Retry-After, 429 capacity_exceeded, closed sockets, hangs, HTML and
 * node error shapes, final errors, the terminal codes IICP-E033 / no_available_node / timeout, and that every
 * failure is an IicpError (SDK-ERR-01, SDK-ERR-02). Backoff sleeps are injected and recorded, never slept.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError, isIicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import type { ClientConfig, SubmitOptions } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'
import type { Behaviour } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hello mesh' }] }
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

let mesh: Mesh | undefined
let client: IicpClient | undefined
afterEach(async () => {
  await client?.close()
  await mesh?.close()
  client = undefined
  mesh = undefined
})

function makeClient(m: Mesh, extra: ClientConfig = {}): { client: IicpClient; sleeps: number[] } {
  const sleeps: number[] = []
  client = new IicpClient({
    directoryUrl: m.directoryUrl,
    allowPrivateEndpoints: true,
    allowPlaintext: true,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    ...extra,
  })
  return { client, sleeps }
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a rejection')
}

function attemptsOf(err: IicpError): { nodeId: string; code: string }[] {
  return (err.extra?.attempts ?? []) as { nodeId: string; code: string }[]
}

describe('submit: the happy path', () => {
  it('README SDK-01: discovers, selects the directory\'s first node and submits one task to it', async () => {
    mesh = await startMesh([{ region: 'eu-central' }, { region: 'us-west' }])
    const { client } = makeClient(mesh, { region: 'us-west' })
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.status).toBe('success')
    expect(r.nodeId).toBe(mesh.nodes[1]?.nodeId)
    expect(r.attempts).toBe(1)
    expect(r.errors).toEqual([])
    expect(r.route).toBe('direct')
    expect((r.result as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('echo: hello mesh')
    expect(mesh.nodes[1]?.requests).toHaveLength(1)
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })

  it('README SDK-02: gives each logical task a fresh UUID v4 task_id and sends it on the wire', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const a = await client.submit(CHAT, PAYLOAD)
    const b = await client.submit(CHAT, PAYLOAD)
    expect(a.taskId).toMatch(UUID_V4)
    expect(b.taskId).toMatch(UUID_V4)
    expect(a.taskId).not.toBe(b.taskId)
    expect(mesh.nodes[0]?.requests.map((r) => r.body.task_id)).toEqual([a.taskId, b.taskId])
  })

  it('uses a caller-supplied UUID v4 task_id and rejects a malformed one before any traffic', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const id = '0b6f4a52-3f0e-4d55-9c1e-2f8f5e0c1a77'
    expect((await client.submit(CHAT, PAYLOAD, { taskId: id })).taskId).toBe(id)
    const err = await failure(client.submit(CHAT, PAYLOAD, { taskId: 'not-a-uuid' }))
    expect(err.code).toBe('validation_error')
    expect(err.fields).toHaveProperty('taskId')
    expect(mesh.nodes[0]?.requests).toHaveLength(1)
  })

  it('README SDK-03 and spec SDK-03: rejects a malformed intent URN before any network traffic', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    for (const bad of ['llm:chat', 'urn:iicp:intent:llm:chat', 'urn:iicp:intent:LLM:chat:v1', 'urn:iicp:intent:llm:chat+fast:v1']) {
      const err = await failure(client.submit(bad, PAYLOAD))
      expect(err.code).toBe('invalid_intent')
    }
    const risky = await failure(client.submit('urn:iicp:intent:social-scoring:rank:v1', PAYLOAD))
    expect(risky.code).toBe('IICP-POLICY-001')
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })

  it('sends the envelope the spec describes: task_id, intent, payload, constraints.timeout_ms, trace, auth and headers', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh, { nodeToken: 'tok-envelope-0123456789' })
    await client.submit(CHAT, PAYLOAD, { qos: 'batch', maxTokens: 64, model: 'echo-1', region: 'eu-west', minReputation: 0.2 })
    const req = mesh.nodes[0]?.requests[0]
    expect(req?.body.intent).toBe(CHAT)
    expect(req?.body.payload).toEqual(PAYLOAD)
    const constraints = req?.body.constraints as Record<string, unknown>
    expect(constraints.qos).toBe('batch')
    expect(constraints.max_tokens).toBe(64)
    expect(constraints.model).toBe('echo-1')
    expect(constraints.timeout_ms).toBeGreaterThanOrEqual(100)
    expect(constraints.timeout_ms).toBeLessThanOrEqual(30_000)
    // Route-only options never reach the provider (sdk-request-projection invariant).
    expect(constraints).not.toHaveProperty('region')
    expect(constraints).not.toHaveProperty('min_reputation')
    expect(req?.body.auth).toEqual({ node_token: 'tok-envelope-0123456789' })
    expect(req?.headers.authorization).toBe('Bearer tok-envelope-0123456789')
    expect(req?.headers['content-type']).toBe('application/json')
    expect(req?.headers['x-iicp-version']).toBe('1.5')
  })

  it('unwraps a double-wrapped result from a node that wrapped its handler\'s envelope again', async () => {
    mesh = await startMesh([{ behaviours: [{ kind: 'double-wrapped' }] }])
    const { client } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD)
    expect((r.result as { object: string }).object).toBe('chat.completion')
  })

  it('sends straight to a pinned node (from discover) with one POST and no directory call', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const node = mesh.nodes[0]
    if (!node) throw new Error('no node')
    const r = await client.submit(CHAT, PAYLOAD, { node: node.summary() })
    expect(r.routeSource).toBe('pinned')
    expect(r.nodeId).toBe(node.nodeId)
  })
})

describe('submit: failover and backoff (README SDK-05, spec SDK-01)', () => {
  const cases: [string, Behaviour, string][] = [
    ['503', { kind: 'status', status: 503, body: { error: { code: 'service_unavailable', message: 'busy' } } }, 'service_unavailable'],
    ['a closed socket', { kind: 'close' }, 'connection_failed'],
    ['an HTML 500 page', { kind: 'html', status: 500 }, 'server_error'],
    ['an HTML 200 page', { kind: 'html', status: 200 }, 'invalid_response'],
    ['a 200 status:error envelope', { kind: 'task-error', error: { code: 'backend_error', message: 'model crashed' } }, 'backend_error'],
    ['a flat error string', { kind: 'status', status: 502, body: { error: 'IICP-E031', message: 'relay forwarding failed' } }, 'IICP-E031'],
  ]
  for (const [what, behaviour, code] of cases) {
    it(`fails over to the next node when the first answers ${what}`, async () => {
      const queue: Behaviour[] = [behaviour]
      mesh = await startMesh([{ queue }, { queue }])
      const { client, sleeps } = makeClient(mesh)
      const r = await client.submit(CHAT, PAYLOAD)
      expect(r.attempts).toBe(2)
      expect(r.errors).toHaveLength(1)
      expect(r.errors[0]?.code).toBe(code)
      expect(r.errors[0]?.nodeId).not.toBe(r.nodeId)
      // 200 ms × 2⁰ with random 0.5 → no jitter.
      expect(sleeps).toEqual([200])
    })
  }

  it('backs off 200 ms × 2ⁿ ± 20% between attempts', async () => {
    const queue: Behaviour[] = [{ kind: 'status', status: 503 }, { kind: 'status', status: 503 }]
    mesh = await startMesh([{ queue }, { queue }])
    const { client, sleeps } = makeClient(mesh, { random: () => 1 - Number.EPSILON })
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.attempts).toBe(3)
    expect(sleeps).toEqual([240, 480])
  })

  it('honours Retry-After when the next attempt returns to the same node', async () => {
    mesh = await startMesh([{ behaviours: [{ kind: 'status', status: 429, body: { error: { code: 'rate_limited', message: 'slow down' } }, headers: { 'retry-after': '2' } }] }])
    const { client, sleeps } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.attempts).toBe(2)
    expect(sleeps).toEqual([2000])
  })

  it('honours retry_after_ms from the body when the next attempt returns to the same node', async () => {
    mesh = await startMesh([{ behaviours: [{ kind: 'status', status: 503, body: { error: { code: 'service_unavailable', message: 'x', retry_after_ms: 750 } } }] }])
    const { client, sleeps } = makeClient(mesh)
    await client.submit(CHAT, PAYLOAD)
    expect(sleeps).toEqual([750])
  })

  it('gives up instead of waiting when Retry-After is longer than the remaining deadline', async () => {
    mesh = await startMesh([{ behaviours: [{ kind: 'status', status: 429, headers: { 'retry-after': '60' }, body: { error: { code: 'rate_limited', message: 'x' } } }] }])
    const { client, sleeps } = makeClient(mesh, { timeoutMs: 30_000 })
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('no_available_node')
    expect(sleeps).toEqual([])
    expect(mesh.nodes[0]?.requests).toHaveLength(1)
  })

  it('switches node immediately, without backoff, on 429 capacity_exceeded', async () => {
    const queue: Behaviour[] = [{
      kind: 'status', status: 429, headers: { 'retry-after': '2' },
      body: { error: { code: 'capacity_exceeded', message: 'full', qos_class: 'interactive', retry_after_ms: 2000 } },
    }]
    mesh = await startMesh([{ queue }, { queue }])
    const { client, sleeps } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.attempts).toBe(2)
    expect(r.errors[0]?.code).toBe('capacity_exceeded')
    expect(sleeps).toEqual([])
  })

  it('never returns to a node that answered capacity_exceeded within the same task', async () => {
    mesh = await startMesh([{ fallback: { kind: 'status', status: 429, body: { error: { code: 'capacity_exceeded', message: 'full' } } } }])
    const { client } = makeClient(mesh)
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('no_available_node')
    expect(mesh.nodes[0]?.requests).toHaveLength(1)
  })

  it('spec SDK-01: makes exactly 3 attempts on transient errors, then returns an IicpError (no_available_node)', async () => {
    const fail: Behaviour = { kind: 'status', status: 503 }
    mesh = await startMesh([{ fallback: fail }, { fallback: fail }, { fallback: fail }, { fallback: fail }])
    const { client, sleeps } = makeClient(mesh)
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('no_available_node')
    expect(attemptsOf(err)).toHaveLength(3)
    expect(mesh.nodes.reduce((n, node) => n + node.requests.length, 0)).toBe(3)
    expect(sleeps).toHaveLength(2)
  })

  it('reuses the same task_id on every attempt of one logical task', async () => {
    const queue: Behaviour[] = [{ kind: 'status', status: 503 }]
    mesh = await startMesh([{ queue }, { queue }])
    const { client } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD)
    const ids = mesh.nodes.flatMap((n) => n.requests.map((q) => q.body.task_id))
    expect(ids).toEqual([r.taskId, r.taskId])
  })

  for (const status of [400, 401, 403, 409, 422]) {
    it(`treats HTTP ${status} as final: no retry, the node's own code surfaces`, async () => {
      const code = { 400: 'invalid_json', 401: 'unauthorized', 403: 'forbidden', 409: 'conflict', 422: 'validation_error' }[status] ?? 'x'
      const queue: Behaviour[] = [{ kind: 'status', status, body: { error: { code, message: 'no' } } }]
      mesh = await startMesh([{ queue }, { queue }])
      const { client, sleeps } = makeClient(mesh)
      const err = await failure(client.submit(CHAT, PAYLOAD))
      expect(err.code).toBe(code)
      expect(err.status).toBe(status)
      expect(attemptsOf(err)).toHaveLength(1)
      expect(sleeps).toEqual([])
    })
  }

  it('SDK-ERR-02: IICP-E004, IICP-E005 and IICP-E008 from a node are retryable IicpErrors and are retried', async () => {
    for (const code of ['IICP-E004', 'IICP-E005', 'IICP-E008']) {
      expect(new IicpError(code).retryable).toBe(true)
    }
    const queue: Behaviour[] = [
      { kind: 'status', status: 503, body: { error: { code: 'IICP-E004', message: 'net' } } },
      { kind: 'status', status: 503, body: { error: { code: 'IICP-E005', message: 'overloaded' } } },
    ]
    mesh = await startMesh([{ queue }, { queue }])
    const { client } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.errors.map((e) => e.code)).toEqual(['IICP-E004', 'IICP-E005'])
  })
})

describe('submit: transport and routing details', () => {
  it('reuses pooled keep-alive connections: six sequential tasks to one node travel over at most two sockets', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    for (let i = 0; i < 6; i++) await client.submit(CHAT, PAYLOAD)
    const ports = new Set(mesh.nodes[0]?.requests.map((r) => r.remotePort))
    expect(mesh.nodes[0]?.requests).toHaveLength(6)
    expect(ports.size).toBeLessThanOrEqual(2)
  })

  it('close() drops the pooled keep-alive sockets, so the node sees every connection closed', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    await client.submit(CHAT, PAYLOAD)
    await client.close()
    await mesh.nodes[0]?.idle()
    await expect(client.submit(CHAT, PAYLOAD)).rejects.toMatchObject({ code: 'aborted' })
  })

  it('follows a same-origin 307 from a node, and refuses a cross-origin one', async () => {
    mesh = await startMesh([{}, {}])
    const [a, b] = mesh.nodes
    if (!a || !b) throw new Error('nodes missing')
    const { client } = makeClient(mesh, { maxAttempts: 1 })
    a.push({ kind: 'redirect', status: 307, location: '/moved/v1/task' })
    const r = await client.submit(CHAT, PAYLOAD, { node: a.summary() })
    expect(r.nodeId).toBe(a.nodeId)
    expect(a.requests.map((q) => q.path)).toEqual(['/v1/task', '/moved/v1/task'])
    a.push({ kind: 'redirect', status: 307, location: `${b.url}/v1/task` })
    const err = await failure(client.submit(CHAT, PAYLOAD, { node: a.summary() }))
    expect(attemptsOf(err).map((x) => x.code)).toEqual(['invalid_response'])
    expect(b.requests).toHaveLength(0)
  })

  it('refuses a loopback endpoint without allowPrivateEndpoints (IICP-POLICY-ROUTING) and sends nothing', async () => {
    mesh = await startMesh([{}])
    const node = mesh.nodes[0]
    if (!node) throw new Error('node missing')
    client = new IicpClient({ allowPlaintext: true })
    const err = await failure(client.submit(CHAT, PAYLOAD, { node: node.summary() }))
    expect(err.code).toBe('IICP-POLICY-ROUTING')
    expect(node.requests).toHaveLength(0)
  })

  it('spends no attempt exploring a node that lists only other models (the directory just ranks it lower)', async () => {
    mesh = await startMesh([{ models: ['llava:latest'] }, { models: ['echo-1'] }])
    const [other, serving] = mesh.nodes
    // Epsilon always explores, and its second draw picks the last candidate: the node without the model.
    const draws = [0, 0.99]
    let i = 0
    const { client } = makeClient(mesh, { random: () => draws[i++ % draws.length] as number, selectionEpsilon: 1 })
    const r = await client.submit(CHAT, { model: 'echo-1', ...PAYLOAD }, { model: 'echo-1' })
    expect(r.attempts).toBe(1)
    expect(r.nodeId).toBe(serving?.nodeId)
    expect(other?.requests).toHaveLength(0)
  })

  it('reports the route kind: relay when the node is reached through a relay', async () => {
    mesh = await startMesh([{}])
    const node = mesh.nodes[0]
    if (!node) throw new Error('node missing')
    const { client } = makeClient(mesh)
    const r = await client.submit(CHAT, PAYLOAD, { node: node.summary({ reachability_tier: 'relay' }) })
    expect(r.route).toBe('relay')
  })
})

describe('submit: terminal errors', () => {
  it('answers IICP-E033 when the directory has no node for the intent', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const err = await failure(client.submit('urn:iicp:intent:llm:embedding:v1', { input: 'x' }))
    expect(err.code).toBe('IICP-E033')
  })

  it('answers IICP-E033 on the legacy discover path too', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh, { routeDiscovery: 'legacy' })
    const err = await failure(client.submit('urn:iicp:intent:llm:embedding:v1', { input: 'x' }))
    expect(err.code).toBe('IICP-E033')
  })

  it('answers timeout when every node hangs past its attempt budget', async () => {
    mesh = await startMesh([{ fallback: { kind: 'hang' } }, { fallback: { kind: 'hang' } }])
    const { client } = makeClient(mesh)
    const err = await failure(client.submit(CHAT, PAYLOAD, { attemptTimeoutMs: 150, timeoutMs: 10_000 }))
    expect(err.code).toBe('timeout')
    expect(attemptsOf(err).map((a) => a.code)).toEqual(['timeout', 'timeout', 'timeout'])
  })

  it('fails over from a node that hangs to one that answers when attempts have their own budget', async () => {
    const queue: Behaviour[] = [{ kind: 'hang' }]
    mesh = await startMesh([{ queue }, { queue }])
    const { client } = makeClient(mesh)
    // The same budget must also be beaten by the healthy second attempt, so it is seconds, not milliseconds:
    // a loaded machine can stall the event loop for hundreds of ms between connect and reply.
    const r = await client.submit(CHAT, PAYLOAD, { attemptTimeoutMs: 2_000 })
    expect(r.errors.map((e) => e.code)).toEqual(['timeout'])
    expect(r.attempts).toBe(2)
  })

  it('answers timeout when a node hangs past the one deadline', async () => {
    mesh = await startMesh([{ fallback: { kind: 'hang' } }])
    const { client } = makeClient(mesh)
    const err = await failure(client.submit(CHAT, PAYLOAD, { timeoutMs: 200 }))
    expect(err.code).toBe('timeout')
  })

  it('answers aborted, promptly and without retrying, when the caller aborts', async () => {
    mesh = await startMesh([{ fallback: { kind: 'hang' } }])
    const { client } = makeClient(mesh)
    const node = mesh.nodes[0]
    if (!node) throw new Error('node missing')
    const ac = new AbortController()
    const outcome = failure(client.submit(CHAT, PAYLOAD, { signal: ac.signal }))
    // Abort once the node holds the request (not after a guessed delay), so "without retrying" is what is tested.
    await Promise.race([node.received(1), outcome])
    ac.abort()
    const err = await outcome
    expect(err.code).toBe('aborted')
    expect(node.requests).toHaveLength(1)
  })

  it('answers aborted before any traffic when the signal is already aborted', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const err = await failure(client.submit(CHAT, PAYLOAD, { signal: AbortSignal.abort() }))
    expect(err.code).toBe('aborted')
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })

  it('SDK-ERR-01: a directory that is not listening surfaces as IicpError connection_failed, never a raw undici error', async () => {
    const c = new IicpClient({ directoryUrl: 'http://127.0.0.1:1/api', allowPrivateEndpoints: true })
    client = c
    const err = await failure(c.submit(CHAT, PAYLOAD))
    expect(err).toBeInstanceOf(IicpError)
    expect(err.code).toBe('connection_failed')
    const d = await failure(c.discover(CHAT))
    expect(d.code).toBe('connection_failed')
  })

  it('rejects calls after close() with aborted, and close() is idempotent', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    await client.close()
    await client.close()
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('aborted')
  })

  it('validates call options with validation_error naming the option', async () => {
    mesh = await startMesh([{}])
    const { client } = makeClient(mesh)
    const bad: [SubmitOptions, string][] = [
      [{ timeoutMs: 120_001 }, 'timeoutMs'], [{ timeoutMs: 0 }, 'timeoutMs'], [{ limit: 51 }, 'limit'],
      [{ minReputation: 2 }, 'minReputation'], [{ qos: 'fast' as never }, 'qos'], [{ attemptTimeoutMs: -1 }, 'attemptTimeoutMs'],
    ]
    for (const [opts, field] of bad) {
      const err = await failure(client.submit(CHAT, PAYLOAD, opts))
      expect(err.code).toBe('validation_error')
      expect(Object.keys(err.fields ?? {})).toEqual([field])
    }
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })
})
