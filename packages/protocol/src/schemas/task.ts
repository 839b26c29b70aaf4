/**
 * CALL / RESPONSE (wire.md §2.2–§2.4; schemas/task.json; cx §4–§5a; reference-implementations §5).
 * Three request views: TaskRequestSchema reads what nodes receive (lenient), TaskRequestWriteSchema
 * is what our client sends (exact), TaskRequestPhase1Schema is task.json's Phase-1 minimum.
 */
import { z } from 'zod'
import { AnyRecordSchema, IntentUrnSchema, QosSchema } from './common.js'

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const TRACE_ID = /^[0-9a-f]{32}$/
const B64URL = /^[A-Za-z0-9_-]+$/

/** IICP-CX encrypted request body (cx §4.1); replaces `payload`. */
export const IicpConfSchema = z.looseObject({
  /** cx §4.1: always 1. */
  version: z.literal(1),
  /** cx §4.1: the node's `cx_public_key.key_id`. */
  recipient_key_id: z.string().min(1),
  /** cx §4.1: client ephemeral X25519 public key, base64url. */
  kem_ciphertext: z.string().regex(B64URL),
  /** cx §4.1: AES-256-GCM ciphertext‖tag, base64url. */
  encrypted_body: z.string().regex(B64URL),
  /** cx §4.1: 12-byte nonce, base64url. */
  nonce: z.string().regex(B64URL),
  /** cx §4.1: base64url of `task_id|intent`. */
  aad: z.string().optional(),
  /** cx §4.1: JSON byte length of the plaintext payload. */
  plaintext_size: z.number().int().min(0).optional(),
})
export type IicpConf = z.infer<typeof IicpConfSchema>

/** IICP-CX encrypted response body (cx §5a.3; reference-implementations §5.3). */
export const IicpConfRespSchema = z.looseObject({
  /** cx §5a.3 */
  version: z.literal(1),
  /** cx §5a.3: fresh 12-byte nonce, base64url. */
  nonce: z.string().regex(B64URL),
  /** cx §5a.3: AES-256-GCM ciphertext‖tag of the plaintext RESPONSE. */
  encrypted_body: z.string().regex(B64URL),
})
export type IicpConfResp = z.infer<typeof IicpConfRespSchema>

const constraintsShape = {
  /** core §3.1: provider attempt budget, 100–300000 ms (task.json). */
  timeout_ms: z.number().int().min(100).max(300_000),
  /** sem §2.1: `realtime` is in core/cbor though task.json omits it. */
  qos: QosSchema.optional(),
  /** official-sdks §8.4: nodes read `qos_class`; clients send both until the spec settles. */
  qos_class: QosSchema.optional(),
  /** task.json: preferred execution region. */
  region: z.string().max(64).optional(),
  /** core §3.1: `low|normal|high|critical`. */
  priority: z.enum(['low', 'normal', 'high', 'critical']).optional(),
  /** core §3.1: consensus mode. */
  consensus: z.enum(['none', 'first_completed', 'majority_of_3', 'majority_of_5']).optional(),
  /** cbor §4.1.1; proj: execution constraint. */
  max_tokens: z.number().int().positive().optional(),
  /** proj: execution constraint. */
  model: z.string().min(1).max(256).optional(),
  /** cbor §4.1.1 */
  min_reputation: z.number().min(0).max(1).optional(),
  /** life §2: profile negotiation. */
  required_profiles: z.array(z.string()).optional(),
  /** life §2 */
  optional_profiles: z.array(z.string()).optional(),
}

/** Task constraints as read (wire.md §2.2): `timeout_ms` may be absent (the node applies its default). */
export const TaskConstraintsSchema = z.looseObject({ ...constraintsShape, timeout_ms: constraintsShape.timeout_ms.optional() })
export type TaskConstraints = z.infer<typeof TaskConstraintsSchema>

/** Body trace context (wire.md §2.2). */
export const TaskTraceSchema = z.looseObject({
  /** core §3.1: 16-byte hex; cbor §4.1 uses a UUID, so read any string. */
  trace_id: z.string().min(1).max(64).optional(),
  /** core §3.1: UUID of the requesting proxy. */
  origin_node: z.string().optional(),
  /** reference SDKs add a span id. */
  span_id: z.string().optional(),
  /** core §3.1: else 422 IICP-E028. */
  cip_role: z.enum(['coordinator', 'worker']).optional(),
})
export type TaskTrace = z.infer<typeof TaskTraceSchema>

/**
 * Body auth as read (core §3.1). An empty token parses: missing, empty or wrong tokens are the
 * node's 401 `unauthorized` (TASK-1, SEC-AUTH-01), never a 422 from the schema.
 */
export const TaskAuthSchema = z.looseObject({
  /** core §3.1: compared in constant time with the node's own token; never log. */
  node_token: z.string(),
})
export type TaskAuth = z.infer<typeof TaskAuthSchema>

/** `billing` block, Phase 3+ (task.json). */
export const TaskBillingSchema = z.looseObject({
  /** task.json: ≥ 0. */
  max_credits: z.number().min(0).optional(),
  /** task.json */
  priority: z.enum(['standard', 'premium']).optional(),
})

function payloadXorConf(v: { payload?: unknown; iicp_conf?: unknown }, ctx: z.core.$RefinementCtx): void {
  if (v.iicp_conf !== undefined && v.payload !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['payload'], message: 'payload must be absent when iicp_conf is present' })
  } else if (v.iicp_conf === undefined && v.payload === undefined) {
    ctx.addIssue({ code: 'custom', path: ['payload'], message: 'payload is required without iicp_conf' })
  }
}

/**
 * CALL as a node reads it, `POST /v1/task` (wire.md §2.2). Lenient where the mesh differs:
 * `auth` is optional because a consumer token header may replace it (dir §3.12) and a missing
 * token is a 401 for the node to decide, not a 422; `constraints` may be absent (Python's
 * plaintext curl form has it, its CX form too, but older senders omit it). Payload and
 * iicp_conf are mutually exclusive (cx §4.1).
 */
export const TaskRequestSchema = z.looseObject({
  /** core §3.1: UUID (v4 from conformant senders). */
  task_id: z.string().regex(UUID, 'task_id must be a UUID'),
  /** core §3.1 */
  intent: IntentUrnSchema,
  /** core §3.1: intent-specific object; never logged. */
  payload: AnyRecordSchema.optional(),
  /** core §3.1 */
  constraints: TaskConstraintsSchema.optional(),
  /** core §3.1 */
  trace: TaskTraceSchema.optional(),
  /** core §3.1 */
  auth: TaskAuthSchema.optional(),
  /** reference-implementations §5.5: replay guard (409 IICP-E011 on reuse). */
  nonce: z.string().min(1).max(128).optional(),
  /** task.json */
  billing: TaskBillingSchema.optional(),
  /** cip §4 */
  cip: z.looseObject({}).optional(),
  /** cx §4.1 */
  iicp_conf: IicpConfSchema.optional(),
  /** cx §5a.3: only `required` is defined; others tolerated on read. */
  cx_response_encryption: z.enum(['required', 'optional', 'none']).optional(),
  /** identity slot §3.3 */
  identity: z.unknown().optional(),
  /** identity slot §3.3 */
  identity_signature: z.unknown().optional(),
}).superRefine(payloadXorConf)
export type TaskRequest = z.infer<typeof TaskRequestSchema>

/**
 * CALL as our client writes it (wire.md §2.2): known fields only, UUID v4, 32-hex trace id,
 * `constraints.timeout_ms` present, payload xor iicp_conf. `auth` stays optional: a tokenless
 * open-mesh consumer has nothing to put there (wire.md §9 item 18).
 */
export const TaskRequestWriteSchema = z.strictObject({
  /** core §3.1: UUID v4 (PROTO-MSG-01). */
  task_id: z.string().regex(UUID_V4, 'task_id must be a lowercase UUID v4'),
  /** core §3.1 */
  intent: IntentUrnSchema,
  /** core §3.1 */
  payload: AnyRecordSchema.optional(),
  /** core §3.1 */
  constraints: z.strictObject(constraintsShape),
  /** core §3.1 */
  trace: z.strictObject({
    trace_id: z.string().regex(TRACE_ID, 'trace_id must be 32 lowercase hex'),
    origin_node: z.string().optional(),
  }).optional(),
  /** core §3.1 */
  auth: z.strictObject({ node_token: z.string().min(1) }).optional(),
  /** reference-implementations §5.5 */
  nonce: z.string().min(1).max(128).optional(),
  /** cx §4.1 */
  iicp_conf: z.strictObject({
    version: z.literal(1),
    recipient_key_id: z.string().min(1),
    kem_ciphertext: z.string().regex(B64URL),
    encrypted_body: z.string().regex(B64URL),
    nonce: z.string().regex(B64URL),
    aad: z.string().regex(B64URL),
    plaintext_size: z.number().int().min(0),
  }).optional(),
  /** cx §5a.3 */
  cx_response_encryption: z.literal('required').optional(),
}).superRefine(payloadXorConf)
export type TaskRequestWrite = z.infer<typeof TaskRequestWriteSchema>

/** task.json's own intent pattern (wire.md §3.2): narrower than ours. */
const TASK_JSON_INTENT = /^urn:iicp:intent:[a-z0-9_-]+:[a-z0-9_-]+:v[0-9]+$/

/**
 * The Phase-1 minimum exactly as schemas/task.json states it (wire.md §9 item 15): closed
 * objects, `payload`, `constraints` and `auth` required, `qos` without `realtime`. Use it to
 * check a peer that claims strict Phase-1 conformance; our own traffic uses the schemas above.
 */
export const TaskRequestPhase1Schema = z.strictObject({
  /** task.json */
  task_id: z.string().regex(UUID, 'task_id must be a UUID'),
  /** task.json */
  intent: z.string().regex(TASK_JSON_INTENT, 'Invalid intent URN'),
  /** task.json */
  payload: AnyRecordSchema,
  /** task.json */
  constraints: z.strictObject({
    timeout_ms: z.number().int().min(100).max(300_000),
    qos: z.enum(['interactive', 'batch', 'best-effort']).optional(),
    region: z.string().optional(),
  }),
  /** task.json */
  trace: z.strictObject({ trace_id: z.string().optional(), origin_node: z.string().regex(UUID).optional() }).optional(),
  /** task.json */
  auth: z.strictObject({ node_token: z.string().min(1) }),
  /** task.json */
  billing: z.strictObject({
    max_credits: z.number().min(0).optional(),
    priority: z.enum(['standard', 'premium']).optional(),
  }).optional(),
})
export type TaskRequestPhase1 = z.infer<typeof TaskRequestPhase1Schema>

/**
 * RESPONSE status read leniently (official-sdks §8.2): `completed`/`ok` mean success,
 * `failure`/`failed` mean error. What we write is only `success|error|timeout|encrypted`.
 */
export const TaskStatusSchema = z.preprocess(
  (v) => (v === 'completed' || v === 'ok' ? 'success' : v === 'failure' || v === 'failed' ? 'error' : v),
  z.enum(['success', 'error', 'timeout', 'encrypted']),
)
export type TaskStatus = z.infer<typeof TaskStatusSchema>

/** Error object inside a RESPONSE (core §3.2). */
export const TaskErrorSchema = z.looseObject({
  /** core §7 */
  code: z.string().min(1),
  /** core §7 */
  message: z.string(),
})
export type TaskError = z.infer<typeof TaskErrorSchema>

/** RESPONSE metrics (core §3.2; cts NODE-TASK-04). */
export const TaskMetricsSchema = z.looseObject({
  /** cts NODE-TASK-04: ≥ 0. */
  latency_ms: z.number().min(0).optional(),
  /** core §3.2 */
  tokens_used: z.number().int().min(0).optional(),
})
export type TaskMetrics = z.infer<typeof TaskMetricsSchema>

/** RESPONSE as a client reads it (wire.md §2.3; reference-implementations §5.3). */
export const TaskResponseSchema = z.looseObject({
  /** core §3.2: echo (PHP/Python may echo ""). */
  task_id: z.string(),
  /** core §3.2 */
  status: TaskStatusSchema,
  /** core §3.2: intent-specific; null on error. */
  result: z.unknown().optional(),
  /** core §3.2: null or `{code,message}`; read anything, interpret later. */
  error: z.unknown().optional(),
  /** core §3.2 */
  metrics: TaskMetricsSchema.nullish(),
  /** core §3.2: SHOULD on success. */
  model_used: z.string().nullish(),
  /** core §3.2: SHOULD be true for model output. */
  generated_by_ai: z.boolean().optional(),
  /** official-sdks §8.19: provenance some nodes add. */
  node_id: z.string().optional(),
  /** cx §5a.3: present with status `encrypted`. */
  iicp_conf_resp: IicpConfRespSchema.optional(),
  /** iicp-extensions §1.3 */
  billing: z.looseObject({}).optional(),
  /** cip */
  cip_receipt: z.unknown().optional(),
  /** cip */
  trace: z.looseObject({}).optional(),
})
export type TaskResponse = z.infer<typeof TaskResponseSchema>

const writeMetrics = z.strictObject({
  latency_ms: z.number().min(0),
  tokens_used: z.number().int().min(0).optional(),
})

/**
 * RESPONSE as our node writes it (wire.md §2.3; cts §4.1): status is one of the spec words,
 * never `completed`; success carries `result` and `error:null`; failures carry `result:null`.
 */
export const TaskResponseWriteSchema = z.discriminatedUnion('status', [
  z.strictObject({
    task_id: z.string().min(1),
    status: z.literal('success'),
    result: z.unknown().refine((r) => r !== undefined, 'result is required'),
    error: z.null(),
    metrics: writeMetrics,
    model_used: z.string().optional(),
    generated_by_ai: z.boolean().optional(),
    /** Not in wire.md §2.3's table: our node names itself, which clients already read as an envelope key. */
    node_id: z.string().min(1).optional(),
  }),
  z.strictObject({
    task_id: z.string().min(1),
    status: z.enum(['error', 'timeout']),
    result: z.null(),
    error: z.strictObject({ code: z.string().min(1), message: z.string() }),
    metrics: writeMetrics,
    model_used: z.string().optional(),
  }),
  z.strictObject({
    task_id: z.string().min(1),
    status: z.literal('encrypted'),
    iicp_conf_resp: z.strictObject({
      version: z.literal(1),
      nonce: z.string().regex(B64URL),
      encrypted_body: z.string().regex(B64URL),
    }),
  }),
])
export type TaskResponseWrite = z.infer<typeof TaskResponseWriteSchema>
