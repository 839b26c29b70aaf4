/**
 * Wire bodies of the relay's HTTP long-poll transport (IICP-DIR §7.1; wire.md §9 item 27 leaves them open, so
 * these match what the reference Python relay sends and accepts, official-sdks.md §5.4 and fixtures/interop
 * capture d, plus optional fields it ignores). Strict on what this relay receives, lenient on what workers read.
 */
import { z } from 'zod'
import { parseWire } from '@iicp/protocol'

/** A worker id travels in URL paths (`/v1/relay-for/{worker_id}`), so it stays URL-safe. */
const WORKER_ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/

/** Header maps arrive with any case; names are kept lower-case. */
const HeaderMapSchema = z.record(z.string(), z.string()).transform((h) => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v
  return out
})

/** A bindable worker id (IICP-DIR §7.2). */
export const WorkerIdSchema = z.string().regex(WORKER_ID_RE, 'required: 1-128 characters of A-Z a-z 0-9 . _ : @ -')

/** `POST /v1/relay/bind` request (IICP-DIR §7.1, §7.4). */
export const RelayBindRequestSchema = z.looseObject({
  /** IICP-DIR §7.2: the worker's node id; consumers reach it at `/v1/relay-for/{worker_id}`. */
  worker_id: WorkerIdSchema,
  /** official-sdks.md §5.4: the worker's intent (echoed nowhere; informational). */
  intent: z.string().max(256).nullish().transform((v) => v ?? undefined),
  /** official-sdks.md §5.3: models the worker serves (echoed in relay-for health). */
  models: z.array(z.string().max(256)).max(64).nullish().transform((v) => v ?? undefined),
  /** IICP-DIR §7.4: directory-signed bind ticket; an empty string counts as none. */
  bind_ticket: z.string().max(4096).nullish().transform((v) => (v ? v : undefined)),
})
export type RelayBindRequest = z.infer<typeof RelayBindRequestSchema>

/** `POST /v1/relay/bind` 200 response (official-sdks.md §5.4), read leniently by workers. */
export const RelayBindResponseSchema = z.looseObject({
  /** official-sdks.md §5.4: bearer token for pull, result and unbind. */
  session_token: z.string().min(1),
  /** IICP-DIR §7.1: longest a pull is held open, seconds (≤ 25). */
  poll_timeout_s: z.number().positive().catch(25),
  /** official-sdks.md §5.4: path-scoped endpoint consumers use, `/v1/relay-for/{worker_id}`. */
  worker_endpoint_path: z.string().catch(''),
  /** @iicp/relay addition: results may carry `body` (raw response text) instead of `result`. */
  raw_result: z.boolean().optional().catch(undefined),
  /** @iicp/relay addition: most calls one pull may carry (`?max=N`, extras in `more`). */
  max_pull_batch: z.number().int().min(2).optional().catch(undefined),
  /** @iicp/relay addition: pulls may ask for binary frames (`?frames=1`) and results may be posted as frames. */
  frames: z.boolean().optional().catch(undefined),
})
export type RelayBindResponse = z.input<typeof RelayBindResponseSchema>

/** One call as a pull hands it out. */
export const RelayPulledCallSchema = z.looseObject({
  /** official-sdks.md §5.4: relay-made id of this call (not the task_id). */
  call_id: z.string().min(1),
  /** official-sdks.md §5.4: the consumer's task body as sent. */
  task: z.unknown().refine((t) => t !== undefined, 'required'),
  /** @iicp/relay addition: consumer request headers (traceparent, content-type, …). */
  headers: HeaderMapSchema.optional().catch(undefined),
})
export type RelayPulledCall = z.infer<typeof RelayPulledCallSchema>

/** `GET /v1/relay/pull` 200 response: one consumer task, plus `more` when the pull asked `?max=N`. */
export const RelayPullResponseSchema = RelayPulledCallSchema.extend({
  /** @iicp/relay addition: further queued calls. */
  more: z.array(RelayPulledCallSchema).optional(),
})
export type RelayPullResponse = z.infer<typeof RelayPullResponseSchema>

/** `POST /v1/relay/result` request (official-sdks.md §5.4). */
export const RelayResultRequestSchema = z.looseObject({
  /** official-sdks.md §5.4: the call being answered. */
  call_id: z.string().min(1).max(128),
  /**
   * official-sdks.md §5.4: without `http_status`, the handler's return value, merged by the relay into
   * `{task_id, status:"completed", ...result, generated_by_ai:true}`; with it, the node's whole response body.
   */
  result: z.unknown().optional(),
  /** @iicp/relay addition: the worker node's HTTP status for this task. */
  http_status: z.number().int().min(200).max(599).optional(),
  /** @iicp/relay addition: the worker node's response headers. */
  http_headers: HeaderMapSchema.optional(),
  /** @iicp/relay addition: with `http_status`, the node's response body as text, sent on unchanged. */
  body: z.string().optional(),
}).superRefine((v, ctx) => {
  if (v.body !== undefined && v.http_status === undefined) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: 'must be sent with http_status' })
  }
  if (v.result === undefined && v.body === undefined) {
    const streaming = (v as Record<string, unknown>).event !== undefined
    ctx.addIssue({ code: 'custom', path: ['result'], message: streaming ? 'streaming relay events are not supported; post result' : 'required' })
  }
})
export type RelayResultRequest = z.input<typeof RelayResultRequestSchema>

/** `GET /v1/relay-for/{worker_id}/iicp/health` 200 response (official-sdks.md §5.3). */
export const RelayForHealthResponseSchema = z.looseObject({
  status: z.literal('ok'),
  node_id: z.string(),
  via_relay: z.literal(true),
  models: z.array(z.string()),
  /** @iicp/relay addition: the worker's transport. */
  transport: z.string(),
})
export type RelayForHealthResponse = z.infer<typeof RelayForHealthResponseSchema>

/** True when `id` may be bound as a worker id. */
export function isValidWorkerId(id: string): boolean {
  return WORKER_ID_RE.test(id)
}

/** Parse a bind request or throw IicpError `validation_error` (422) naming the fields. */
export function parseRelayBindRequest(value: unknown): z.output<typeof RelayBindRequestSchema> {
  return parseWire(RelayBindRequestSchema, value)
}

/** Parse a bind response (worker side) or throw IicpError `invalid_response`. */
export function parseRelayBindResponse(value: unknown): z.output<typeof RelayBindResponseSchema> {
  return parseWire(RelayBindResponseSchema, value, 'invalid_response')
}

/** Parse a pull answer (worker side) or throw IicpError `invalid_response`. */
export function parseRelayPullResponse(value: unknown): RelayPullResponse {
  return plainPull(value) ?? parseWire(RelayPullResponseSchema, value, 'invalid_response')
}

/** Parse a result post (relay side) or throw IicpError `validation_error` (422). */
export function parseRelayResultRequest(value: unknown): z.output<typeof RelayResultRequestSchema> {
  return plainResult(value) ?? parseWire(RelayResultRequestSchema, value)
}

// Fast paths for the two bodies every long-poll task carries. A schema run costs as much as the JSON parse before
// it, so the everyday shape (as this package's relay and worker write it) is checked by hand and returned as is;
// anything else, including every invalid body, goes through the schema, which stays the judge and the error source.

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A header map the schema would return unchanged: string values, lower-case names, no `__proto__`. */
function plainHeaders(v: unknown): v is Record<string, string> {
  if (!isRecord(v) || Object.getPrototypeOf(v) !== Object.prototype) return false
  for (const k of Object.keys(v)) {
    if (typeof v[k] !== 'string' || k === '__proto__' || k !== k.toLowerCase()) return false
  }
  return true
}

function plainCall(v: unknown): v is RelayPulledCall {
  return isRecord(v) && typeof v.call_id === 'string' && v.call_id.length > 0 && v.task !== undefined &&
    (v.headers === undefined || plainHeaders(v.headers))
}

function plainPull(v: unknown): RelayPullResponse | undefined {
  if (!plainCall(v)) return undefined
  const more = (v as { more?: unknown }).more
  if (more === undefined) return v
  if (!Array.isArray(more)) return undefined
  for (const c of more) if (!plainCall(c)) return undefined
  return v as RelayPullResponse
}

function plainResult(v: unknown): z.output<typeof RelayResultRequestSchema> | undefined {
  if (!isRecord(v)) return undefined
  const id = v.call_id
  if (typeof id !== 'string' || id.length < 1 || id.length > 128) return undefined
  const status = v.http_status
  if (status === undefined) {
    // A reference worker's `{call_id, result}`.
    return v.result !== undefined && v.body === undefined && v.http_headers === undefined
      ? v as z.output<typeof RelayResultRequestSchema> : undefined
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return undefined
  if (v.http_headers !== undefined && !plainHeaders(v.http_headers)) return undefined
  if (v.body !== undefined && typeof v.body !== 'string') return undefined
  return v.body !== undefined || v.result !== undefined ? v as z.output<typeof RelayResultRequestSchema> : undefined
}
