// Proves the wire schemas read what the reference implementations actually put on the wire
// (reference-implementations.md §3–§5, fixtures/interop) and hold our own writes to the spec words:
// lenient on read (status aliases, legacy CX key alias, data.nodes nesting), exact on write.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  BootstrapResponseSchema, DeregisterResponseSchema, DirectoryKeyResponseSchema, DiscoverQuerySchema,
  DispatchTicketRequestSchema, DispatchTicketResponseSchema, ErrorEnvelopeSchema, FORBIDDEN_TICKET_KEYS,
  HeartbeatRequestSchema, HeartbeatResponseSchema, MeResponseSchema, NodeDetailSchema, NodeHealthSchema, NodeListSchema,
  NodeSummarySchema, RegisterAckSchema, RegisterRequestSchema, RelayTicketRequestSchema, RelayTicketResponseSchema,
  TaskRequestSchema, TaskRequestWriteSchema, TaskResponseSchema, TaskResponseWriteSchema, TaskStatusSchema, safeParseWire,
} from '../src/index.js'

function fieldsOf(schema: Parameters<typeof safeParseWire>[0], value: unknown): string[] {
  const r = safeParseWire(schema, value)
  return r.ok ? [] : Object.keys(r.error.fields ?? {}).sort()
}

const cxKey = {
  algorithm: 'X25519', encoding: 'base64url', key: 'Gb3mwPjEwgWbMtjGL6KG2cxmuw413H6oL39DD0UsHzg',
  key_id: 'cx-0c4ab33480ce633e', features: ['response_encryption_v1'],
}
const pythonRegister = {
  endpoint: 'http://127.0.0.1:9490', region: 'local',
  capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], max_tokens: 8192, input_modalities: ['text'] }],
  limits: { max_concurrent: 4, tokens_per_min: 10000 },
  node_id: 'py-echo-node-1', sdk_language: 'python', sdk_version: '0.7.107',
  sdk_latest_seen: null, sdk_update_last_checked_at: null, sdk_update_error_class: null,
  auto_update_enabled: false, auto_update_interval_s: 3600, cx_public_key: cxKey,
}
const registerAck = {
  node_id: 'py-echo-node-1', node_token: 'NMSk9o7ovmdXf7ijRUOMdk1WcOgRTQUw5jhPcS0H',
  proxy_token: 'QNgGvHwbCiiWXieooKt3BW6CYChBEONQLOnV1qnb',
  node_hmac_key: '81826ccf4101dc4d831fc521dc2e6f69dc76cc012811901717a6560920b102a2',
  expires_at: null, jwt_token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJweSJ9.AEmY', jwt_expires_at: '2026-11-25T03:40:50+00:00',
  directory: 'http://127.0.0.1:8080', observed_source_ip: '127.0.0.1', recovered: false, lifetime_jobs: 0,
}
const compactRegister = {
  endpoint: 'https://node.example.com', region: 'eu-central',
  capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['llama3'], max_tokens: 8192, input_modalities: ['text'] }],
  limits: { max_concurrent: 4, tokens_per_min: 20000 },
  transport_endpoint: 'iicp://node.example.com:9484', transport_method: 'direct',
  sdk_language: 'typescript', sdk_version: '0.7.101', sdk_compatibility_version: '0.7.101',
  implementation_name: '@iicp/web-node', implementation_version: '0.2.2',
}
const pythonHeartbeat = {
  node_id: 'py-echo-node-1', node_token: 'NMSk9o7o', status: 'available', available: true, max_concurrent: 4,
  sdk_latest_seen: null, sdk_update_last_checked_at: null, sdk_update_error_class: null,
  auto_update_enabled: false, auto_update_interval_s: 3600,
  metrics: { tasks_success: 2, tasks_failed: 0, avg_latency_ms: 2.73 },
  metrics_batch_id: '226a559d-6dec-45c0-b62a-31ddae6c7831',
  challenge_response: 'a5b93c56725cb6abd572e3e1f50fc036470edc476c354dcd98b48daf2f074f4b',
}
const pong = {
  ok: true, next_heartbeat_ms: 30000, reputation_score: 0.52, reputation_model: 'outcome-v2',
  reputation_epoch: null, metrics_batch_accepted: '226a559d-6dec-45c0-b62a-31ddae6c7831', challenge: '913bf23b21dfc003ccbc5d4407dacb52',
}
const ticketSig = '2bf56091cef47cdfc5b56c500ab1fe23a089cec9e1f3c98bc89ce2f28c51e71addc2161470a30c2f540efb765b52d2f6db40ee0c61014be34566af8bb4f7db03'
const ticketResponse = {
  ticket: `eyJ2IjoxLCJ0eXAiOiJkaXNwYXRjaC1yb3V0ZS10aWNrZXQifQ.${ticketSig}`,
  ticket_id_prefix: '69bd87a4f2de', expires_at: 1795574570, intent: 'urn:iicp:intent:llm:chat:v1',
  node_id: 'py-echo-node-1', node_id_prefix: 'py-echo-',
  route: {
    node_id: 'py-echo-node-1', endpoint: 'http://127.0.0.1:9490', cx_public_key: cxKey, transport: ['http'], score: 0.905,
    available: true, reachability_tier: 'direct', route_evidence: 'self_attested', region: 'local',
  },
  algorithm: 'ed25519', data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false,
}
const plaintextTask = {
  task_id: '11111111-2222-4333-8444-555555555555', intent: 'urn:iicp:intent:llm:chat:v1', nonce: 'n-0001',
  constraints: { timeout_ms: 10000, qos: 'batch' },
  payload: { messages: [{ role: 'user', content: 'plaintext hello' }], model: 'echo-1' },
}
const cxInterop = JSON.parse(readFileSync(new URL('../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  cases: Array<{ request_body: unknown; response_body: unknown; expected_response?: unknown }>
}
const chatCompletion = {
  id: 'chatcmpl-bf7a0fe5', object: 'chat.completion', model: 'echo-1',
  choices: [{ index: 0, message: { role: 'assistant', content: 'echo: Hello mesh' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
}

describe('captured bodies parse (reference-implementations §3–§5)', () => {
  const table: Array<{ name: string; schema: Parameters<typeof safeParseWire>[0]; body: unknown }> = [
    { name: 'Python REGISTER', schema: RegisterRequestSchema, body: pythonRegister },
    { name: 'Python re-REGISTER with current_node_token', schema: RegisterRequestSchema, body: { ...pythonRegister, current_node_token: registerAck.node_token } },
    { name: 'compact REGISTER of wire.md §7', schema: RegisterRequestSchema, body: compactRegister },
    { name: 'PHP ACK', schema: RegisterAckSchema, body: registerAck },
    { name: 'Python HEARTBEAT', schema: HeartbeatRequestSchema, body: pythonHeartbeat },
    { name: 'PHP PONG', schema: HeartbeatResponseSchema, body: pong },
    { name: 'deregister answer', schema: DeregisterResponseSchema, body: { deregistered: true } },
    { name: 'Python dispatch-ticket request', schema: DispatchTicketRequestSchema, body: { intent: 'urn:iicp:intent:llm:chat:v1', limit: 10, qos: 'batch', exclude_node_id_prefixes: [] } },
    { name: 'PHP dispatch-ticket answer', schema: DispatchTicketResponseSchema, body: ticketResponse },
    { name: 'PHP directory-key answer', schema: DirectoryKeyResponseSchema, body: { public_key: '652bf694'.repeat(8), algorithm: 'ed25519' } },
    { name: 'relay-ticket request', schema: RelayTicketRequestSchema, body: { relay_node_id: 'py-echo-node-1' } },
    {
      name: 'PHP relay-ticket answer', schema: RelayTicketResponseSchema,
      body: { ticket: `eyJ2IjoxfQ.${ticketSig}`, expires_at: 1795574570, worker_node_id: 'curl-node-1', relay_node_id: 'py-echo-node-1', algorithm: 'ed25519' },
    },
    {
      name: 'PHP node detail', schema: NodeDetailSchema,
      body: {
        node_id: 'py-echo-node-1', endpoint: 'http://127.0.0.1:9490', region: 'local', available: true, load: 0, active_jobs: 0,
        last_seen: '2026-11-25T02:41:20.000000Z', reputation_score: 0.52, reputation_model: 'outcome-v2', reputation_epoch: null,
        probation: true, completed_tasks_count: 2, observed_latency_ms: null, performance: {},
      },
    },
    { name: 'PHP bootstrap', schema: BootstrapResponseSchema, body: { peers: [{ node_id: 'py-echo-node-1', endpoint: 'http://127.0.0.1:9490', region: 'local', last_seen: '2026-11-25T02:41:20Z' }], count: 1 } },
    { name: 'PHP /v1/me', schema: MeResponseSchema, body: { node_id: 'curl-node-1', observed_source_ip: '127.0.0.1', endpoint: 'http://127.0.0.1:9480' } },
    { name: 'plaintext task (curl → Python node)', schema: TaskRequestSchema, body: plaintextTask },
    ...cxInterop.cases.map((c, i) => ({ name: `CX interop request ${i}`, schema: TaskRequestSchema, body: c.request_body })),
    ...cxInterop.cases.map((c, i) => ({ name: `CX interop response ${i}`, schema: TaskResponseSchema, body: c.response_body })),
    {
      name: 'Python node health', schema: NodeHealthSchema,
      body: {
        status: 'ok', node_id: 'py-echo-node-1', region: 'local', load: 0.0, active_jobs: 0, max_concurrent: 4, effective_max_concurrent: 4,
        available: true, model: 'echo-1', models: ['echo-1'], intent: 'urn:iicp:intent:llm:chat:v1', pinhole_state: { active: false },
        backend_stability: { backend_state: 'ok', reason_class: 'ok' },
      },
    },
    { name: 'PHP 422 envelope', schema: ErrorEnvelopeSchema, body: { error: { code: 'validation_error', message: 'Input validation failed', fields: { 'capabilities.0.intent': ['The capabilities.0.intent field format is invalid.'] } } } },
    { name: 'Python 429 envelope', schema: ErrorEnvelopeSchema, body: { error: { code: 'IICP-E021', message: 'capacity_exceeded', qos_class: 'batch', retry_after_ms: 2000 } } },
  ]
  it.each(table)('reads the $name', ({ schema, body }) => {
    expect(fieldsOf(schema, body)).toEqual([])
  })
  it('reads the captured discover query string, coercing numbers and booleans', () => {
    const q = Object.fromEntries(new URLSearchParams('limit=10&intent=urn%3Aiicp%3Aintent%3Allm%3Achat%3Av1&cip_capable=1&relay_capable=false&min_reputation=0.5'))
    expect(DiscoverQuerySchema.parse(q)).toEqual({
      intent: 'urn:iicp:intent:llm:chat:v1', limit: 10, cip_capable: true, relay_capable: false, min_reputation: 0.5,
    })
  })
  it.each([
    { query: {}, field: 'intent' },
    { query: { intent: 'urn:iicp:intent:llm:chat:v1', qos: 'fast' }, field: 'qos' },
    { query: { intent: 'urn:iicp:intent:llm:chat:v1', min_reputation: '2.0' }, field: 'min_reputation' },
    { query: { intent: 'urn:iicp:intent:llm:chat:v1', limit: '51' }, field: 'limit' },
  ])('refuses a discover query with a bad $field (DIR-DISC-09/10)', ({ query, field }) => {
    expect(fieldsOf(DiscoverQuerySchema, query)).toEqual([field])
  })
})

describe('lenient reads (official-sdks §8.2, §10.1)', () => {
  it.each([
    ['success', 'success'], ['completed', 'success'], ['ok', 'success'],
    ['error', 'error'], ['failure', 'error'], ['failed', 'error'], ['timeout', 'timeout'], ['encrypted', 'encrypted'],
  ])('reads status %s as %s', (wire, status) => {
    expect(TaskStatusSchema.parse(wire)).toBe(status)
  })
  it('refuses an unknown status with the status field named', () => {
    expect(fieldsOf(TaskResponseSchema, { task_id: 'x', status: 'partial' })).toEqual(['status'])
  })
  it('reads the decrypted Python response, whose status is completed, as success', () => {
    const r = TaskResponseSchema.parse({ task_id: 'bf7a0fe5-a50e-457b-9e32-6bca58da45d3', status: 'completed', generated_by_ai: true, result: chatCompletion })
    expect(r.status).toBe('success')
  })
  it('takes a legacy X25519 public_key object on a discovered node as its CX key', () => {
    const n = NodeSummarySchema.parse({ score: 0.5, available: true, public_key: cxKey })
    expect(n.cx_public_key?.key_id).toBe('cx-0c4ab33480ce633e')
  })
  it('leaves a string public_key (the Ed25519 gossip key) alone', () => {
    const n = NodeSummarySchema.parse({ score: 0.5, available: true, public_key: 'ZSv2lAbo_WkWwcCTACgRrRsVq6vxWSZUd4Wi2XQHOME' })
    expect(n.cx_public_key).toBeUndefined()
  })
  it('prefers an explicit cx_public_key over a legacy public_key', () => {
    const n = NodeSummarySchema.parse({ score: 0.5, available: true, cx_public_key: cxKey, public_key: { ...cxKey, key_id: 'cx-other' } })
    expect(n.cx_public_key?.key_id).toBe('cx-0c4ab33480ce633e')
  })
  it('lifts a data.nodes nesting to the top level', () => {
    const list = NodeListSchema.parse({ data: { nodes: [{ score: 0.4, available: true }], count: 1 } })
    expect(list.nodes).toHaveLength(1)
    expect(list.count).toBe(1)
  })
  it('reads an ACK whose token is named token as node_token', () => {
    const { node_token: _t, ...rest } = registerAck
    expect(RegisterAckSchema.parse({ ...rest, token: 'tok-alias-0123456789' }).node_token).toBe('tok-alias-0123456789')
  })
  it('keeps node_token when an ACK carries both names', () => {
    expect(RegisterAckSchema.parse({ ...registerAck, token: 'other' }).node_token).toBe(registerAck.node_token)
  })
  it('keeps unknown fields on read so newer directories lose nothing', () => {
    const n = NodeSummarySchema.parse({ score: 0.5, available: true, trust_progress: { probation: true } })
    expect(n.trust_progress).toEqual({ probation: true })
  })
})

describe('refusals on read', () => {
  it.each(FORBIDDEN_TICKET_KEYS.map((k) => [k]))('refuses a dispatch-ticket body carrying %s, naming only that key', (key) => {
    const r = safeParseWire(DispatchTicketRequestSchema, { intent: 'urn:iicp:intent:llm:chat:v1', [key]: 'SECRET-PROMPT' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(Object.keys(r.error.fields ?? {})).toEqual([key])
      expect(JSON.stringify(r.error.toJSON())).not.toContain('SECRET-PROMPT')
    }
  })
  it('lists exactly the seven forbidden keys of dir §3.4', () => {
    expect([...FORBIDDEN_TICKET_KEYS]).toEqual(['prompt', 'messages', 'payload', 'input', 'chat', 'content', 'response'])
  })
  it('refuses a task carrying both payload and iicp_conf (cx §4.1)', () => {
    const cx = (cxInterop.cases[0]?.request_body ?? {}) as Record<string, unknown>
    expect(fieldsOf(TaskRequestSchema, { ...cx, payload: { messages: [] } })).toEqual(['payload'])
  })
  it('refuses a task with neither payload nor iicp_conf', () => {
    const { payload: _p, ...rest } = plaintextTask
    expect(fieldsOf(TaskRequestSchema, rest)).toEqual(['payload'])
  })
  it('refuses metrics without a metrics_batch_id (dir §3.2)', () => {
    const { metrics_batch_id: _id, ...rest } = pythonHeartbeat
    expect(fieldsOf(HeartbeatRequestSchema, rest)).toEqual(['metrics_batch_id'])
  })
  it.each([
    { name: 'uppercase intent', body: { ...pythonRegister, capabilities: [{ intent: 'urn:iicp:intent:LLM:chat' }] }, field: 'capabilities.0.intent' },
    { name: 'max_concurrent 257', body: { ...pythonRegister, limits: { max_concurrent: 257 } }, field: 'limits.max_concurrent' },
    { name: 'no capabilities', body: { ...pythonRegister, capabilities: [] }, field: 'capabilities' },
    { name: 'a private-path implementation_name', body: { ...pythonRegister, implementation_name: '/Users/operator/build' }, field: 'implementation_name' },
    { name: 'a 37-char node_id', body: { ...pythonRegister, node_id: 'n'.repeat(37) }, field: 'node_id' },
    { name: 'an unknown transport_method', body: { ...pythonRegister, transport_method: 'carrier_pigeon' }, field: 'transport_method' },
  ])('refuses a REGISTER with $name', ({ body, field }) => {
    expect(fieldsOf(RegisterRequestSchema, body)).toEqual([field])
  })
  it('refuses a PONG without ok:true', () => {
    expect(fieldsOf(HeartbeatResponseSchema, { ...pong, ok: false })).toEqual(['ok'])
  })
})

describe('exact writes', () => {
  const ourTask = {
    task_id: 'bf7a0fe5-a50e-457b-9e32-6bca58da45d3', intent: 'urn:iicp:intent:llm:chat:v1',
    payload: { messages: [{ role: 'user', content: 'hi' }] },
    constraints: { timeout_ms: 30000, qos: 'batch', qos_class: 'batch' },
    trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' },
  }
  it('accepts the CALL our client sends', () => {
    expect(fieldsOf(TaskRequestWriteSchema, ourTask)).toEqual([])
  })
  it('accepts the CX request the Python client sent, as a shape we also write', () => {
    expect(fieldsOf(TaskRequestWriteSchema, cxInterop.cases[0]?.request_body)).toEqual([])
  })
  it.each([
    { name: 'an unknown root key', body: { ...ourTask, extra: 1 }, field: '(root)' },
    { name: 'no constraints', body: { ...ourTask, constraints: undefined }, field: 'constraints' },
    { name: 'a UUID v1 task_id', body: { ...ourTask, task_id: 'bf7a0fe5-a50e-157b-9e32-6bca58da45d3' }, field: 'task_id' },
    { name: 'a short trace_id', body: { ...ourTask, trace: { trace_id: 'abc' } }, field: 'trace.trace_id' },
  ])('refuses to write a CALL with $name', ({ body, field }) => {
    expect(fieldsOf(TaskRequestWriteSchema, body)).toEqual([field])
  })
  it('writes success with result, error null and latency', () => {
    const r = TaskResponseWriteSchema.parse({ task_id: 't-1', status: 'success', result: chatCompletion, error: null, metrics: { latency_ms: 3 }, model_used: 'echo-1' })
    expect(r.status).toBe('success')
  })
  it('refuses to write status completed', () => {
    expect(TaskResponseWriteSchema.safeParse({ task_id: 't-1', status: 'completed', result: {}, error: null, metrics: { latency_ms: 3 } }).success).toBe(false)
  })
  it('refuses to write success without metrics.latency_ms (cts NODE-TASK-04)', () => {
    expect(fieldsOf(TaskResponseWriteSchema, { task_id: 't-1', status: 'success', result: {}, error: null, metrics: {} })).toEqual(['metrics.latency_ms'])
  })
  it('writes an error with result null and a {code,message} object', () => {
    const body = { task_id: 't-1', status: 'error', result: null, error: { code: 'backend_error', message: 'Backend failed' }, metrics: { latency_ms: 1 } }
    expect(fieldsOf(TaskResponseWriteSchema, body)).toEqual([])
  })
  it('writes the encrypted response shape the Python node sends', () => {
    const resp = cxInterop.cases[0]?.response_body as Record<string, unknown>
    expect(fieldsOf(TaskResponseWriteSchema, { task_id: resp.task_id, status: 'encrypted', iicp_conf_resp: resp.iicp_conf_resp })).toEqual([])
  })
})
