/**
 * One CALL → RESPONSE exchange with one node (wire.md §2.2–§2.4): build the envelope, POST it to
 * `{endpoint}/v1/task`, and read every answer shape the reference implementations produce into either a
 * result or an IicpError: 200 success, 200 `status:"error"`, a 200 `completed` carrying `error_code` (the Python
 * node's backend failure), non-2xx with nested or flat `error`, HTML bodies, encrypted replies, double-wrapped results. Same-origin 307/308 are followed at most 3 times.
 */
import { ERROR_CATALOGUE, IICP_VERSION_HEADER_VALUE, IicpError, errorFromResponse, statusOf } from '@iicp/protocol'
import type { Qos, TaskRequestWrite, TaskResponse } from '@iicp/protocol'
import { openResponse, sealPayload } from './cx.js'
import type { SealedPayload } from './cx.js'
import { redirectDecision } from './endpoint-security.js'
import { headerValue } from './http.js'
import type { HttpTransport } from './http.js'
import type { Candidate } from './select-node.js'
import { hopHeaders } from './trace.js'
import type { TaskTrace } from './trace.js'
import type { Cancellation } from './deadline.js'
import { parseTaskResponseBody } from './task-response.js'

/** Execution constraints sent to the provider (sdk-request-projection: route-only fields never appear here). */
export interface ExecutionConstraints {
  readonly qos?: Qos | undefined
  readonly model?: string | undefined
  readonly maxTokens?: number | undefined
}

/** Everything one attempt needs. */
export interface TaskCall {
  readonly http: HttpTransport
  readonly candidate: Candidate
  readonly taskId: string
  readonly intent: string
  /** The payload as JSON text, serialised once before discovery by {@link serializePayload}. */
  readonly payloadJson: string
  readonly constraints: ExecutionConstraints
  /** Remaining budget at send time; becomes `constraints.timeout_ms`. */
  readonly timeoutMs: number
  readonly trace: TaskTrace
  readonly nodeToken: string | undefined
  /** A directory-issued `X-IICP-Consumer-Token` for this node and intent; when set, the node token is not sent. */
  readonly consumerToken?: string | undefined
  readonly allowPrivateEndpoints: boolean
  readonly cancel: Cancellation
}

/** A successful exchange. */
export interface TaskCallResult {
  readonly response: TaskResponse
  readonly result: unknown
  readonly encrypted: boolean
}

const ENVELOPE_KEYS = new Set(['task_id', 'status', 'result', 'generated_by_ai', 'metrics', 'model_used', 'error', 'node_id'])

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A node that wrapped its handler's `{result}` once more: unwrap a result that is itself only an envelope. */
export function unwrapResult(result: unknown): unknown {
  let r = result
  for (let i = 0; i < 2 && isRecord(r) && 'result' in r && Object.keys(r).every((k) => ENVELOPE_KEYS.has(k)); i++) r = r.result
  return r
}

/** The IicpError inside a 200 `status:"error"` (or `timeout`) response. */
export function errorFromTaskResponse(response: TaskResponse): IicpError {
  if (response.status === 'timeout') return new IicpError('task_timeout', 'Node reported the task timed out')
  const e = response.error
  if (isRecord(e) && typeof e.code === 'string') {
    const retryAfter = typeof e.retry_after_ms === 'number' ? e.retry_after_ms : undefined
    return new IicpError(e.code, typeof e.message === 'string' ? e.message : undefined, retryAfter === undefined ? {} : { retryAfterMs: retryAfter })
  }
  if (typeof e === 'string' && e.length > 0) return new IicpError(e, undefined, {})
  return new IicpError('backend_error', 'Node reported a failed task without an error object')
}

/**
 * A task payload as JSON text, or a final `validation_error` (422) saying why it cannot be one. Called once per
 * task before discovery, so a payload JSON cannot carry (a BigInt, a cycle, `undefined`) never reaches a node,
 * costs no attempt and counts against no circuit breaker. The message names the problem, never the payload.
 */
export function serializePayload(payload: unknown): string {
  let json: string | undefined
  let problem = 'is not a JSON value'
  try {
    json = JSON.stringify(payload)
  } catch (err) {
    // The engine's own wording names property paths and constructors, so only the kind of problem is kept.
    const text = err instanceof Error ? err.message : ''
    problem = /bigint/i.test(text) ? 'contains a BigInt, which JSON cannot represent'
      : /circular|cyclic/i.test(text) ? 'contains a circular reference'
        : 'cannot be serialised to JSON (a toJSON method or getter threw)'
  }
  if (json === undefined) {
    throw new IicpError('validation_error', `payload ${problem}`, { fields: { payload: ['a JSON-serialisable value'] } })
  }
  return json
}

/** Execution constraints as sent: `timeout_ms` plus whatever the caller set. */
function constraintsOf(call: TaskCall, timeoutMs: number): TaskRequestWrite['constraints'] {
  const constraints: TaskRequestWrite['constraints'] = { timeout_ms: timeoutMs }
  const c = call.constraints
  if (c.qos !== undefined) constraints.qos = c.qos
  if (c.model !== undefined) constraints.model = c.model
  if (c.maxTokens !== undefined) constraints.max_tokens = c.maxTokens
  return constraints
}

/**
 * The node error inside a success answer (reference-implementations §5.3): the Python node wraps a backend's
 * `{error_code, error_message}` in `status:"completed"`, which reads as success. A success with no result that
 * carries a string `error_code` (or a non-null `error.code`) is that error, under its catalogue entry's status and
 * retry rules (502 `backend_error` rules for a code the catalogue lacks; an integer 400..599 is read as a status).
 */
export function errorInSuccess(response: TaskResponse): IicpError | undefined {
  if (response.result !== undefined && response.result !== null) return undefined
  const r = response as Record<string, unknown>
  const nested = isRecord(r.error) ? r.error : undefined
  const code = r.error_code ?? nested?.code
  if (code === undefined || code === null) return undefined
  const message = typeof r.error_message === 'string' ? r.error_message : typeof nested?.message === 'string' ? nested.message : undefined
  const retryAfterMs = typeof nested?.retry_after_ms === 'number' ? nested.retry_after_ms : undefined
  let status = 502
  if (typeof code === 'string') status = Object.hasOwn(ERROR_CATALOGUE, code) ? statusOf(code) : 502
  else if (Number.isInteger(code) && (code as number) >= 400 && (code as number) <= 599) status = code as number
  const error: Record<string, unknown> = typeof code === 'string' ? { code } : {}
  if (message !== undefined) error.message = message
  if (retryAfterMs !== undefined) error.retry_after_ms = retryAfterMs
  // errorFromResponse keeps a code only when it has a code's shape and cleans the message, as for any node error.
  return errorFromResponse(status, JSON.stringify({ error }))
}

/**
 * The JSON task body of one attempt (wire.md §2.2), with the payload text spliced in as serialised. Every other
 * field is typed as `TaskRequestWrite`, so a field the strict write schema would refuse does not compile; tests
 * parse the bytes a loopback node receives with `TaskRequestWriteSchema` (no schema parse here, on the hot path).
 */
export function buildBody(call: TaskCall, sealed: SealedPayload | undefined, timeoutMs: number): string {
  const head: Pick<TaskRequestWrite, 'task_id' | 'intent' | 'iicp_conf' | 'cx_response_encryption'> = {
    task_id: call.taskId, intent: call.intent, ...sealed?.fields,
  }
  const tail: Pick<TaskRequestWrite, 'constraints' | 'trace' | 'auth'> = {
    constraints: constraintsOf(call, timeoutMs), trace: { trace_id: call.trace.context.traceId },
  }
  if (call.nodeToken !== undefined && call.consumerToken === undefined) tail.auth = { node_token: call.nodeToken }
  const h = JSON.stringify(head).slice(0, -1)
  const t = JSON.stringify(tail).slice(1)
  return sealed ? `${h},${t}` : `${h},"payload":${call.payloadJson},${t}`
}

/** POST the task to one candidate and return its result, or throw the node's IicpError. */
export async function callNode(call: TaskCall): Promise<TaskCallResult> {
  const { candidate } = call
  // Keyless nodes (plaintext allowed by selection) skip the async CX step entirely.
  const sealed = candidate.cxKey ? await sealPayload(candidate, call.payloadJson, call.taskId, call.intent) : undefined
  const body = buildBody(call, sealed, Math.min(300_000, Math.max(100, Math.floor(call.timeoutMs))))
  let origin = candidate.origin
  let path = candidate.taskPath
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'x-iicp-version': IICP_VERSION_HEADER_VALUE,
    }
    // With a consumer token the caller's own directory credential stays home (dir §3.12).
    if (call.consumerToken !== undefined) headers['x-iicp-consumer-token'] = call.consumerToken
    else if (call.nodeToken !== undefined) headers.authorization = `Bearer ${call.nodeToken}`
    hopHeaders(call.trace, headers)
    const res = await call.http.send({ origin, path, method: 'POST', headers, body, cancel: call.cancel })
    if (res.status === 307 || res.status === 308 || res.status === 301 || res.status === 302 || res.status === 303) {
      const location = headerValue(res.headers, 'location')
      const next = location === undefined ? undefined : new URL(location, origin + path)
      const decision = next === undefined ? 'refuse' : redirectDecision({
        status: res.status,
        sameOrigin: next.origin === origin,
        // Same origin means the same host; names are re-resolved and re-checked by the connector's lookup.
        targetAddresses: [next.hostname],
        allowPrivate: call.allowPrivateEndpoints || !/^[\d.]+$|:/.test(next.hostname),
        hops: hop,
      })
      if (decision === 'refuse' || next === undefined) {
        throw new IicpError('invalid_response', `Node answered with a redirect (HTTP ${res.status}) that is not followed`, { status: 502 })
      }
      origin = next.origin
      path = next.pathname + next.search
      continue
    }
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res.status, res.text, res.headers)
    if (res.status !== 200 && res.text.length === 0) throw new IicpError('invalid_response', `Node answered HTTP ${res.status} without a body`)
    const parsed = parseTaskResponseBody(res)
    let response = parsed
    let encrypted = false
    if (sealed?.context || parsed.status === 'encrypted' || parsed.iicp_conf_resp !== undefined) {
      const opened = await openResponse(parsed, candidate, sealed?.context)
      response = opened.response
      encrypted = opened.encrypted
    }
    if (response.task_id !== call.taskId) throw new IicpError('invalid_response', 'Node answered for a different task_id')
    if (response.status !== 'success') throw errorFromTaskResponse(response)
    const hidden = errorInSuccess(response)
    if (hidden) throw hidden
    return { response, result: unwrapResult(response.result), encrypted }
  }
}
