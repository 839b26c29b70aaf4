/**
 * One task attempt over the native transport (official-sdks.md §6.2–§6.4; issue: submit prefers a node's advertised
 * `transport_endpoint`): the same task as the HTTP path (task id, IICP-CX sealing, deadline, node token, trace) as a
 * CALL on the pooled connection, and the RESPONSE or lifecycle events read back into the same TaskCallResult or
 * IicpError. `auto` falls back to HTTP for this attempt when the native connection cannot be opened.
 */
import {
  ERROR_CATALOGUE, IicpError, TaskResponseSchema, encodeJsonBytes, errorFromResponse, isIicpError, parseTraceparent, readResponseResult, safeParseWire, statusOf,
} from '@iicp/protocol'
import type { NativeCall, NativeResponse, NativeStreamEvent, TaskResponse } from '@iicp/protocol'
import { openResponse, sealPayload } from '../cx.js'
import type { Candidate } from '../select-node.js'
import { callNode, errorFromTaskResponse, errorInSuccess, unwrapResult } from '../task-call.js'
import type { TaskCall, TaskCallResult } from '../task-call.js'
import { hopHeaders } from '../trace.js'
import { parseNativeEndpoint } from './native-client.js'
import type { NativePool } from './native-pool.js'

/** Which transport `submit()` uses for a node: `http` always; `native` when the node advertises it; `auto` the same, falling back to HTTP when the native connection fails. */
export type TransportChoice = 'auto' | 'http' | 'native'

/** Receives a streamed task's chunks (the `result` of each `partial` event) as they arrive. */
export interface NativeStreamObserver {
  onChunk(chunk: unknown): void
}

/** What the native attempt adds to the HTTP one. */
export interface NativeAttempt {
  readonly pool: NativePool
  readonly endpoint: string
  readonly transport: 'auto' | 'native'
  readonly observer?: NativeStreamObserver | undefined
}

/** A task attempt's result and the transport that carried it. */
export type TransportResult = TaskCallResult & { readonly transport: 'http' | 'native' }

/** The native endpoint to use for a candidate, if it advertises a usable one (never for relay routes). */
export function nativeEndpointOf(candidate: Candidate): string | undefined {
  const t = candidate.node.transport_endpoint
  if (typeof t !== 'string' || candidate.route === 'relay') return undefined
  return parseNativeEndpoint(t) === undefined ? undefined : t
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function nativeError(code: string | number | undefined, status: number | undefined, message: string | undefined): IicpError {
  const body = JSON.stringify({ error: { ...(typeof code === 'string' ? { code } : {}), ...(message === undefined ? {} : { message }) } })
  // A node that names a catalogued code but no HTTP status (key 100 absent) gets that code's own status, so a
  // validation_error stays a final 422 instead of a retryable 502.
  const fallback = typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code) ? statusOf(code) : 502
  return errorFromResponse(status ?? fallback, body)
}

function buildCall(call: TaskCall, sealed: Record<string, unknown> | undefined): Omit<NativeCall, 'kind'> {
  const trace = parseTraceparent(hopHeaders(call.trace, {}).traceparent ?? '')
  const c = call.constraints
  return {
    intent: call.intent,
    // The payload text was serialised (and checked) once before discovery; only the sealed envelope is new here.
    payload: sealed ? encodeJsonBytes(sealed) : Buffer.from(call.payloadJson, 'utf8'),
    // The node derives task_id from the call id (key 15) on a buffered CALL; IICP-CX binds that id in its AAD.
    callId: call.taskId,
    timeout: Math.min(3600, Math.max(1, Math.ceil(call.timeoutMs / 1000))),
    ...(c.qos === undefined || c.qos === 'realtime' ? {} : { qos: c.qos }),
    ...(c.maxTokens === undefined ? {} : { maxTokens: c.maxTokens }),
    ...(trace === undefined ? {} : { traceId: Buffer.from(trace.traceId, 'hex'), parentSpan: Buffer.from(trace.spanId, 'hex') }),
    ...(call.nodeToken === undefined ? {} : { authToken: call.nodeToken }),
  }
}

/** A result value (or a sealed envelope) read back into the TaskCallResult the HTTP path produces. */
export async function finish(call: TaskCall, candidate: Candidate, value: unknown, context: Parameters<typeof openResponse>[2], nodeId: string | undefined): Promise<TaskCallResult> {
  let response: TaskResponse
  let encrypted = false
  if (isRecord(value) && (value.status === 'encrypted' || value.iicp_conf_resp !== undefined)) {
    const parsed = safeParseWire(TaskResponseSchema, value, 'invalid_response')
    if (!parsed.ok) throw parsed.error
    const opened = await openResponse(parsed.value, candidate, context)
    response = opened.response
    encrypted = opened.encrypted
    if (response.task_id !== call.taskId) throw new IicpError('invalid_response', 'Node answered for a different task_id')
    if (response.status !== 'success') throw errorFromTaskResponse(response)
    const hidden = errorInSuccess(response)
    if (hidden) throw hidden
  } else {
    if (context && candidate.responseEncryption) {
      throw new IicpError('IICP-CX-RESP-REQUIRED', 'Node answered in plaintext though it advertised response encryption')
    }
    // Built here from a decoded native result, so there is no foreign envelope to validate.
    response = { task_id: call.taskId, status: 'success', result: value ?? null, ...(nodeId === undefined ? {} : { node_id: nodeId }) }
  }
  const result = unwrapResult(response.result)
  if (response.metrics === undefined && isRecord(result)) {
    const usage = isRecord(result.usage) ? result.usage.total_tokens : undefined
    const model = typeof result.model === 'string' ? result.model : undefined
    response = { ...response, ...(typeof usage === 'number' ? { metrics: { tokens_used: usage } } : {}), ...(model === undefined || response.model_used !== undefined ? {} : { model_used: model }) }
  }
  return { response, result, encrypted }
}

/**
 * Send one task over the native transport (or HTTP, for `auto` when the native connection fails). Throws IicpError.
 * A call the caller gave up on is handed to {@link NativePool.abandon}, which closes its connection when nothing else
 * rides on it, so the node aborts the task; a streamed call has a connection of its own for that reason.
 */
export async function callNodeNative(call: TaskCall, native: NativeAttempt): Promise<TransportResult> {
  const { candidate } = call
  const streamed = native.observer !== undefined
  // Sealed before a connection is taken, so the CALL leaves right after: the pool relies on that (see abandon()).
  const sealed = candidate.cxKey ? await sealPayload(candidate, call.payloadJson, call.taskId, call.intent) : undefined
  // Built before too: nothing may throw between taking a connection and handing it back.
  const message = buildCall(call, sealed?.fields)
  let conn
  try {
    conn = streamed ? await native.pool.lease(native.endpoint, call.cancel) : (await native.pool.get(native.endpoint, call.cancel)).client
  } catch (err) {
    if (native.transport === 'auto' && !call.cancel.reason && isIicpError(err) && err.code !== 'aborted') {
      return { ...(await callNode(call)), transport: 'http' }
    }
    throw err
  }
  let answer: NativeResponse | NativeStreamEvent
  try {
    answer = native.observer === undefined
      ? await conn.call(message, { cancel: call.cancel })
      : await conn.stream({ ...message, taskId: call.taskId }, (e) => native.observer?.onChunk(e.result), { cancel: call.cancel })
  } catch (err) {
    // Cancelled, or a stream the node broke: either way nobody reads this call's answer any more.
    native.pool.abandon(native.endpoint, conn)
    throw call.cancel.reason ?? err
  }
  if (streamed) native.pool.release(native.endpoint, conn)
  if (answer.kind === 'streamEvent') {
    if (answer.status !== 'success') {
      const code = answer.error?.code ?? (answer.status === 'timeout' ? 'task_timeout' : 'backend_error')
      throw nativeError(code, answer.status === 'timeout' ? 504 : undefined, answer.error?.message)
    }
    return { ...(await finish(call, candidate, answer.result, sealed?.context, conn.nodeId)), transport: 'native' }
  }
  if (answer.errorCode !== undefined || answer.error !== undefined) {
    throw nativeError(answer.error?.code, answer.errorCode, answer.errorMessage ?? answer.error?.message)
  }
  const read = readResponseResult(answer, 'direct')
  if (!read.ok) throw new IicpError('invalid_response', `Native RESPONSE result unreadable: ${read.error.message}`)
  return { ...(await finish(call, candidate, read.value, sealed?.context, conn.nodeId)), transport: 'native' }
}
