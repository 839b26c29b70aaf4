// Proves our wire schemas agree with the spec's own vectors: the task.json samples (and task.json's
// verdict on edge cases), nodelist.json on its example and on a PHP-directory discover answer, every
// intent payload case against the registry input schemas, the implementation-metadata grammar
// vectors, and the conformance runner's lifecycle and dispatch bodies.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  DispatchTicketRequestSchema, DeregisterRequestSchema, HeartbeatRequestSchema, IMPLEMENTATION_NAME_PATTERN,
  INTENT_PAYLOAD_SCHEMAS, METADATA_VERSION_PATTERN, NodeListSchema, NodeSummarySchema, RegisterRequestSchema, TaskRequestPhase1Schema,
  TaskRequestSchema, TaskRequestWriteSchema, effectiveSdkCompatibilityVersion, isIicpError, safeParseWire,
  validateImplementationMetadata, validateIntentPayload,
} from '../src/index.js'
import { jsonSchemaErrors } from './schemas-json-schema-subset.js'
import type { JsonSchema } from './schemas-json-schema-subset.js'

const root = new URL('../../../fixtures/spec/', import.meta.url)
function load<T = unknown>(rel: string): T {
  return JSON.parse(readFileSync(new URL(rel, root), 'utf8')) as T
}
/** Sorted dotted field paths where a zod schema refuses `value`; [] when it parses. */
function fieldsOf(schema: Parameters<typeof safeParseWire>[0], value: unknown): string[] {
  const r = safeParseWire(schema, value)
  return r.ok ? [] : Object.keys(r.error.fields ?? {}).sort()
}
function withoutComment(doc: Record<string, unknown>): Record<string, unknown> {
  const { _comment: _ignored, ...rest } = doc
  return rest
}

const taskJson = load<JsonSchema>('schemas/task.json')
const nodelistJson = load<JsonSchema>('schemas/nodelist.json')

describe('task.json samples (wire.md §2.2, §9 item 15)', () => {
  const samples: Array<{ file: string; specFields: string[]; readFields: string[] }> = [
    { file: 'task-valid.json', specFields: [], readFields: [] },
    { file: 'task-batch.json', specFields: [], readFields: [] },
    { file: 'task-invalid-intent.json', specFields: ['intent'], readFields: ['intent'] },
    // A missing token is the node's 401 to give, not a 422: the read schema lets it through.
    { file: 'task-invalid-missing-auth.json', specFields: ['auth'], readFields: [] },
  ]
  it.each(samples)('$file gets the same verdict and failing field from task.json and TaskRequestPhase1Schema', ({ file, specFields }) => {
    const doc = withoutComment(load(`schemas/samples/${file}`))
    expect(jsonSchemaErrors(taskJson, doc).sort()).toEqual(specFields)
    expect(fieldsOf(TaskRequestPhase1Schema, doc)).toEqual(specFields)
  })
  it.each(samples)('$file is read by TaskRequestSchema with failing fields $readFields', ({ file, readFields }) => {
    expect(fieldsOf(TaskRequestSchema, withoutComment(load(`schemas/samples/${file}`)))).toEqual(readFields)
  })
  it.each(samples.filter((s) => s.specFields.length === 0))('$file is also a body our client may write', ({ file }) => {
    expect(fieldsOf(TaskRequestWriteSchema, load(`schemas/samples/${file}`))).toEqual([])
  })
  it('keeps the _comment annotation out of the verdict only because task.json would refuse it as an extra key', () => {
    const raw = load<Record<string, unknown>>('schemas/samples/task-invalid-intent.json')
    expect(jsonSchemaErrors(taskJson, raw).sort()).toEqual(['_comment', 'intent'])
  })

  const base = withoutComment(load('schemas/samples/task-valid.json'))
  const edits: Array<{ name: string; doc: Record<string, unknown>; readOk: boolean }> = [
    { name: 'timeout_ms of 99', doc: { ...base, constraints: { timeout_ms: 99 } }, readOk: false },
    { name: 'timeout_ms of 300001', doc: { ...base, constraints: { timeout_ms: 300_001 } }, readOk: false },
    { name: 'fractional timeout_ms', doc: { ...base, constraints: { timeout_ms: 5000.5 } }, readOk: false },
    { name: 'timeout_ms at the 300000 ceiling', doc: { ...base, constraints: { timeout_ms: 300_000 } }, readOk: true },
    { name: 'qos realtime (core has it, task.json does not)', doc: { ...base, constraints: { timeout_ms: 5000, qos: 'realtime' } }, readOk: true },
    { name: 'unknown qos', doc: { ...base, constraints: { timeout_ms: 5000, qos: 'fast' } }, readOk: false },
    { name: 'constraints.priority (core §3.1)', doc: { ...base, constraints: { timeout_ms: 5000, priority: 'high' } }, readOk: true },
    { name: 'array payload', doc: { ...base, payload: [] }, readOk: false },
    { name: 'no payload and no iicp_conf', doc: { ...withoutKey(base, 'payload') }, readOk: false },
    // An empty token is the node's 401 to give (TASK-1), so the read schema lets it through.
    { name: 'empty node_token', doc: { ...base, auth: { node_token: '' } }, readOk: true },
    { name: 'root nonce (Python plaintext form)', doc: { ...base, nonce: 'n-0001' }, readOk: true },
    { name: 'non-UUID task_id', doc: { ...base, task_id: 'task-1' }, readOk: false },
    { name: 'vendor x. intent', doc: { ...base, intent: 'urn:iicp:intent:x.acme:summarize:v2' }, readOk: true },
    { name: 'registered translate:v1 intent (no action segment)', doc: { ...base, intent: 'urn:iicp:intent:translate:v1' }, readOk: true },
    { name: '+modifier intent', doc: { ...base, intent: 'urn:iicp:intent:llm:chat:v1+fast' }, readOk: false },
  ]
  it.each(edits)('agrees with task.json on a body with $name', ({ doc }) => {
    const spec = jsonSchemaErrors(taskJson, doc).length === 0
    expect(TaskRequestPhase1Schema.safeParse(doc).success).toBe(spec)
  })
  it.each(edits)('reads a body with $name as readOk=$readOk', ({ doc, readOk }) => {
    expect(TaskRequestSchema.safeParse(doc).success).toBe(readOk)
  })
})

function withoutKey(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...o }
  delete copy[key]
  return copy
}

/** The PHP directory's discover answer (reference-implementations §3.4), abridged objects filled in. */
export const capturedDiscover = {
  nodes: [{
    node_id: 'py-echo-node-1', endpoint: 'http://127.0.0.1:9490', transport_endpoint: null, transport_method: null, nat_type: null,
    transport_metadata: null, sdk_language: 'python', implementation_name: null, implementation_version: null,
    sdk_compatibility_version: '0.7.107', sdk_version: '0.7.107', consumer_cosignature_ready: false,
    cx_public_key: {
      algorithm: 'X25519', encoding: 'base64url', key: 'Gb3mwPjEwgWbMtjGL6KG2cxmuw413H6oL39DD0UsHzg', key_id: 'cx-0c4ab33480ce633e',
      features: ['response_encryption_v1'],
    },
    address_family: 'ipv4', transport: ['http'], score: 0.905, latency_estimate_ms: null,
    latency_evidence: { estimate_ms: null, basis: 'none' }, performance: { window: '24h' },
    available: true, relay_capable: false, probation: true,
    trust_progress: { completed_tasks: 0, gold_min_tasks: 100, platinum_min_tasks: 1000, probation: true },
    exposure_mode: null, reachability_tier: 'direct', directory_observed_reachable: null,
    route_evidence: 'self_attested', routing_hint: 'http_direct', browser_usable: true,
    sdk_status: 'current', sdk_baseline_version: '0.7.68', upgrade_required: false, sdk_release: { channel: 'stable' },
    key_ready: true, privacy_routing_status: 'key_ready',
    auto_update: { enabled: false, interval_s: 3600, latest_seen: null, last_checked_at: null, error_class: null, evidence: 'self_reported' },
    health_label: 'degraded', health_confidence: 'low',
    health_reasons: [{ dimension: 'reachability', state: 'unknown', reason: 'not_directory_observed', evidence: 'self_attested' }],
    region: 'local', reputation_score: 0.5, reputation_model: 'outcome-v2', reputation_epoch: null, reputation_tier: 'silver',
    max_concurrent: 4, active_jobs: 0, load: 0, models: ['echo-1'],
    capability_summary: {
      model_count_registered: 1, model_count_live: 1, model_family_count: 0, modalities: ['text'], context_window_max: 8192,
      quality_evidence: 'self_declared',
    },
    capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], max_tokens: 8192, input_modalities: ['text'], supported_profiles: [] }],
    input_modalities: ['text'], supported_profiles: [], quantization: [], inference_engine: [], backend: null,
    backend_stability: { backend_state: 'unknown', reason_class: 'not_reported' }, node_policy_manifest: null,
    cip_policy: { allow_remote_inference: false, allow_tool_execution: false, allow_file_access: false, pricing_credits_per_1000: null },
    cip_conformance_level: 'CIP-None', pricing: { credit_cost_multiplier: 1, pricing_model: 'per_token', attested: false },
  }],
  count: 1,
  diversity_evidence: {
    nodes: 1, nodes_with_verified_operator: 0, distinct_verified_operators: 0, distinct_regions: 1,
    operator_basis: 'verified_operator_key_aggregate', failure_domain_count: null, failure_domain_basis: 'not_attested', identity_material_exposed: false,
  },
  relay_available: false, query_ms: 16, view: 'dispatch', data_class: 'route_dispatch', route_fields_present: true,
  dispatch_ticket_endpoint: '/api/v1/dispatch/ticket', ticketed_dispatch_available: true,
  redaction: { dispatch_route: 'present', public_presentation: 'use view=public or /api/v1/registry/*' },
}

describe('nodelist.json (wire.md §1.5, §9 item 22)', () => {
  it('parses the nodelist.json example, which the spec schema also accepts', () => {
    const example = (nodelistJson.examples as unknown[])[0]
    expect(jsonSchemaErrors(nodelistJson, example)).toEqual([])
    const parsed = NodeListSchema.parse(example)
    expect(parsed.nodes.map((n) => [n.node_id, n.score])).toEqual([
      ['550e8400-e29b-41d4-a716-446655440001', 0.91], ['550e8400-e29b-41d4-a716-446655440002', 0.74],
    ])
  })
  it('parses the captured PHP discover answer although nodelist.json refuses exactly its five known divergences', () => {
    expect(jsonSchemaErrors(nodelistJson, capturedDiscover).sort()).toEqual([
      'nodes.0.inference_engine', 'nodes.0.latency_estimate_ms', 'nodes.0.node_id', 'nodes.0.quantization', 'nodes.0.route_evidence',
    ])
    const parsed = NodeListSchema.parse(capturedDiscover)
    const node = parsed.nodes[0]
    expect(node?.cx_public_key?.key_id).toBe('cx-0c4ab33480ce633e')
    expect(node?.route_evidence).toBe('self_attested')
    expect(node?.capabilities?.[0]?.intent).toBe('urn:iicp:intent:llm:chat:v1')
    expect(parsed.count).toBe(1)
  })
  it('types the PHP-only node fields of the captured answer (official-sdks §2.2 reads them)', () => {
    const node = NodeListSchema.parse(capturedDiscover).nodes[0]
    expect(node?.consumer_cosignature_ready).toBe(false)
    expect(node?.latency_evidence).toEqual({ estimate_ms: null, basis: 'none' })
    expect(node?.performance).toEqual({ window: '24h' })
    expect(node?.trust_progress?.gold_min_tasks).toBe(100)
    expect(node?.trust_progress?.probation).toBe(true)
    expect(node?.directory_observed_reachable).toBeNull()
    expect(node?.sdk_release).toEqual({ channel: 'stable' })
    expect(node?.health_reasons?.[0]?.reason).toBe('not_directory_observed')
    expect(node?.capability_summary?.context_window_max).toBe(8192)
    expect(node?.capability_summary?.modalities).toEqual(['text'])
    expect([node?.health_label, node?.health_confidence, node?.routing_hint, node?.browser_usable]).toEqual(['degraded', 'low', 'http_direct', true])
    expect([node?.sdk_status, node?.upgrade_required, node?.supported_profiles, node?.backend_stability?.backend_state])
      .toEqual(['current', false, [], 'unknown'])
  })
  it.each([
    ['consumer_cosignature_ready', 'yes'],
    ['latency_evidence', { estimate_ms: 'fast' }],
    ['performance', [1, 2]],
    ['trust_progress', { completed_tasks: -1 }],
    ['directory_observed_reachable', 'unknown'],
    ['sdk_release', 'stable'],
    ['health_reasons', [{ state: 'unknown' }]],
    ['capability_summary', { modalities: 'text' }],
  ])('reads a node whose advisory %s has a shape it does not know, without that field', (field, value) => {
    const doc = { ...capturedDiscover, nodes: [{ ...node0, [field]: value }, node0] }
    const parsed = NodeListSchema.parse(doc)
    expect(parsed.nodes).toHaveLength(2)
    expect((parsed.nodes[0] as Record<string, unknown>)[field]).toBeUndefined()
    expect((parsed.nodes[1] as Record<string, unknown>)[field]).toBeDefined()
    expect(NodeSummarySchema.safeParse({ ...node0, [field]: value }).success).toBe(true)
  })
  it('agrees with nodelist.json once those five fields take the spec shape', () => {
    const node = {
      ...withoutKey(capturedDiscover.nodes[0] as Record<string, unknown>, 'latency_estimate_ms'),
      node_id: '5b0c3a9e-1f2d-4c6b-9a8e-7d6c5b4a3f21', route_evidence: ['self_attested'], quantization: null, inference_engine: null,
    }
    const doc = { ...capturedDiscover, nodes: [node] }
    expect(jsonSchemaErrors(nodelistJson, doc)).toEqual([])
    expect(NodeListSchema.safeParse(doc).success).toBe(true)
  })
  const node0 = capturedDiscover.nodes[0]
  const bad: Array<{ name: string; doc: unknown; field: string }> = [
    { name: 'no nodes array', doc: { count: 0 }, field: 'nodes' },
    { name: 'a node without score', doc: { nodes: [withoutKey(node0 as Record<string, unknown>, 'score')] }, field: 'nodes.0.score' },
    { name: 'a score above 1', doc: { nodes: [{ ...node0, score: 1.5 }] }, field: 'nodes.0.score' },
    { name: 'available as a string', doc: { nodes: [{ ...node0, available: 'yes' }] }, field: 'nodes.0.available' },
    { name: 'a non-X25519 CX key', doc: { nodes: [{ ...node0, cx_public_key: { ...node0?.cx_public_key, algorithm: 'P-256' } }] }, field: 'nodes.0.cx_public_key' },
    { name: 'an unknown view', doc: { nodes: [], view: 'everything' }, field: 'view' },
  ]
  it.each(bad)('refuses, like nodelist.json, a discover answer with $name', ({ doc, field }) => {
    expect(jsonSchemaErrors(nodelistJson, doc).some((p) => p.startsWith(field))).toBe(true)
    expect(fieldsOf(NodeListSchema, doc).some((p) => p.startsWith(field))).toBe(true)
  })
})

describe('intent payloads (registry/fixtures/intent-payloads-v1.json, wire.md §3.4)', () => {
  interface PayloadCase { id: string; intent: string; valid: boolean; payload: unknown }
  const cases = load<{ cases: PayloadCase[] }>('registry/fixtures/intent-payloads-v1.json').cases
  const expectedField: Record<string, string> = {
    'llm-chat-v1-missing-messages': 'payload.messages',
    'llm-completion-v1-missing-prompt': 'payload.prompt',
    'llm-embedding-v1-empty-array': 'payload.input',
    'audio-transcribe-v1-missing-audio': 'payload.audio',
    'audio-speech-v1-speed-range': 'payload.speed',
    'safety-moderate-v1-missing-input': 'payload.input',
  }
  it('covers all twelve fixture cases', () => {
    expect(cases).toHaveLength(12)
  })
  it.each(cases)('$id: validateIntentPayload says valid=$valid', ({ id, intent, valid, payload }) => {
    const err = validateIntentPayload(intent, payload)
    if (valid) {
      expect(err).toBeUndefined()
    } else {
      expect(isIicpError(err)).toBe(true)
      expect(err?.code).toBe('validation_error')
      expect(err?.status).toBe(422)
      expect(Object.keys(err?.fields ?? {})).toEqual([expectedField[id]])
    }
  })

  const registry = load<{ intents: Array<{ urn: string; schemas: { input: { path: string } } }> }>('registry/intents.json').intents
  it('has a payload schema for every registered intent and no other', () => {
    expect(Object.keys(INTENT_PAYLOAD_SCHEMAS).sort()).toEqual(registry.map((i) => i.urn).sort())
  })
  const minimal: Record<string, Record<string, unknown>> = {
    'urn:iicp:intent:llm:chat:v1': { messages: [{ role: 'user', content: 'x' }] },
    'urn:iicp:intent:llm:completion:v1': { prompt: 'x' },
    'urn:iicp:intent:llm:embedding:v1': { input: 'x' },
    'urn:iicp:intent:code:lint:v1': { code: 'x', language: 'ts' },
    'urn:iicp:intent:code:optimize:v1': { code: 'x', language: 'ts' },
    'urn:iicp:intent:research:summarize:v1': { documents: ['x'] },
    'urn:iicp:intent:education:tutor:v1': { topic: 'x', question: 'y' },
    'urn:iicp:intent:translate:v1': { text: 'x', target_language: 'de' },
    'urn:iicp:intent:classify:v1': { text: 'x', categories: ['a'] },
    'urn:iicp:intent:embedding:multimodal:v1': { inputs: [{ type: 'text', content: 'x' }] },
    'urn:iicp:intent:mcp:tools/call:v1': { tool_name: 'x', arguments: {} },
    'urn:iicp:intent:llm:summarize:v1': { text: 'x' },
    'urn:iicp:intent:llm:classify:v1': { text: 'x', categories: ['a'] },
    'urn:iicp:intent:llm:rerank:v1': { query: 'x', candidates: ['a'] },
    'urn:iicp:intent:audio:transcribe:v1': { audio: 'dGVzdA==' },
    'urn:iicp:intent:audio:speech:v1': { input: 'x' },
    'urn:iicp:intent:safety:moderate:v1': { input: ['x'] },
  }
  // Probes: the minimal body, plus an unknown key, minus each required key, an empty object, a string.
  const probes = registry.flatMap(({ urn, schemas }) => {
    const spec = load<JsonSchema>(schemas.input.path)
    const ok = minimal[urn] ?? {}
    const list: Array<{ urn: string; name: string; spec: JsonSchema; payload: unknown }> = [
      { urn, name: 'minimal body', spec, payload: ok },
      { urn, name: 'minimal body plus an unknown key', spec, payload: { ...ok, zz_extra: 1 } },
      { urn, name: 'empty object', spec, payload: {} },
      { urn, name: 'string payload', spec, payload: 'x' },
    ]
    for (const key of (spec.required ?? []) as string[]) list.push({ urn, name: `minimal body without ${key}`, spec, payload: withoutKey(ok, key) })
    return list
  })
  it.each(probes)('$urn agrees with its registry JSON Schema on a $name', ({ urn, spec, payload }) => {
    const specValid = jsonSchemaErrors(spec, payload).length === 0
    expect(validateIntentPayload(urn, payload) === undefined).toBe(specValid)
  })
  it('accepts any object for a vendor intent without a registry schema, and refuses a non-object', () => {
    expect(validateIntentPayload('urn:iicp:intent:x.acme:thing:v1', { anything: [1] })).toBeUndefined()
    expect(validateIntentPayload('urn:iicp:intent:x.acme:thing:v1', 'text')?.fields).toEqual({ payload: [expect.any(String)] })
  })
  it('never echoes payload values in its messages', () => {
    const err = validateIntentPayload('urn:iicp:intent:audio:speech:v1', { input: 'SECRET-PROMPT', speed: 'SECRET-SPEED' })
    expect(JSON.stringify(err?.fields)).not.toContain('SECRET')
    expect(err?.message).not.toContain('SECRET')
  })
})

describe('implementation metadata (fixtures/directory-implementation-metadata-v1.json, dir §3.1)', () => {
  interface MetaCase { name: string; input: Record<string, string>; accepted: boolean; status?: number; effective_sdk_compatibility_version?: string }
  const doc = load<{ field_grammar: Record<string, string>; cases: MetaCase[] }>('fixtures/directory-implementation-metadata-v1.json')
  it('uses exactly the fixture grammars', () => {
    expect(IMPLEMENTATION_NAME_PATTERN.source).toBe(doc.field_grammar.implementation_name)
    expect(METADATA_VERSION_PATTERN.source).toBe(doc.field_grammar.implementation_version)
    expect(METADATA_VERSION_PATTERN.source).toBe(doc.field_grammar.sdk_compatibility_version)
  })
  const register = load<{ tests: Array<{ body: Record<string, unknown> }> }>(
    'conformance-runner/src/iicp_conformance/fixtures/directory-lifecycle-v1.json',
  ).tests[0]?.body ?? {}
  it.each(doc.cases)('$name: accepted=$accepted', ({ input, accepted, status, effective_sdk_compatibility_version }) => {
    const err = validateImplementationMetadata(input)
    expect(err === undefined).toBe(accepted)
    if (!accepted) expect(err?.status).toBe(status)
    else expect(effectiveSdkCompatibilityVersion(input)).toBe(effective_sdk_compatibility_version)
    expect(RegisterRequestSchema.safeParse({ ...register, ...input }).success).toBe(accepted)
  })
})

describe('conformance-runner bodies (directory-lifecycle-v1, directory-dispatch-v1)', () => {
  const lifecycle = load<{ tests: Array<{ id: string; path: string; method: string; body: Record<string, unknown> }> }>(
    'conformance-runner/src/iicp_conformance/fixtures/directory-lifecycle-v1.json',
  ).tests
  const nodeId = '5b0c3a9e-1f2d-4c6b-9a8e-7d6c5b4a3f21'
  const fill = (body: Record<string, unknown>): Record<string, unknown> =>
    JSON.parse(JSON.stringify(body).replaceAll('${node_id}', nodeId).replaceAll('${stale_node_token}', 'a'.repeat(40))) as Record<string, unknown>
  it.each(lifecycle)('$id body parses with the schema for $method $path', ({ path, method, body }) => {
    const schema = path.endsWith('/heartbeat') ? HeartbeatRequestSchema : method === 'DELETE' ? DeregisterRequestSchema : RegisterRequestSchema
    expect(fieldsOf(schema, fill(body))).toEqual([])
  })
  const dispatch = load<{ tests: Array<{ id: string; body: Record<string, unknown> }> }>(
    'conformance-runner/src/iicp_conformance/fixtures/directory-dispatch-v1.json',
  ).tests
  // DIR-DISPATCH-02 is refused by the risk taxonomy (intents.ts), not by the body grammar.
  const expected: Record<string, string[]> = {
    'DIR-DISPATCH-01': [], 'DIR-DISPATCH-02': [], 'DIR-DISPATCH-03': ['prompt'], 'DIR-DISPATCH-04': ['node_id_prefix'], 'DIR-DISPATCH-05': ['qos'],
  }
  it.each(dispatch)('$id body gets the expected schema verdict', ({ id, body }) => {
    expect(fieldsOf(DispatchTicketRequestSchema, body)).toEqual(expected[id])
  })
})
