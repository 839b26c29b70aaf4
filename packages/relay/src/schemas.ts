/**
 * Wire bodies of the relay's HTTP long-poll transport (IICP-DIR §7.1; wire.md §9 item 27 leaves them open, so
 * these match what the reference Python relay sends and accepts, official-sdks.md §5.4, and add optional fields
 * it ignores). Hand-written parsers: @iicp/relay does not depend on zod, so these are the schemas until the
 * shapes move to @iicp/protocol.
 */
import { IicpError } from '@iicp/protocol'

/** A worker id travels in URL paths (`/v1/relay-for/{worker_id}`), so it stays URL-safe. */
const WORKER_ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/

/** `POST /v1/relay/bind` request (IICP-DIR §7.1, §7.4). */
export interface RelayBindRequest {
  /** The worker's node id; consumers reach it at `/v1/relay-for/{worker_id}`. */
  worker_id: string
  /** The worker's intent (informational, echoed in relay-for health). */
  intent?: string
  /** Models the worker serves (echoed in relay-for health). */
  models?: string[]
  /** Directory-signed bind ticket (IICP-DIR §7.4). */
  bind_ticket?: string
}

/** `POST /v1/relay/bind` 200 response (official-sdks.md §5.4). */
export interface RelayBindResponse {
  /** Bearer token for pull, result and unbind. */
  session_token: string
  /** Longest a pull is held open, in seconds (IICP-DIR §7.1: ≤ 25). */
  poll_timeout_s: number
  /** Path-scoped endpoint consumers use: `/v1/relay-for/{worker_id}`. */
  worker_endpoint_path: string
  /** The relay takes `body` (raw response text) in results, sparing a parse and re-encode; an @iicp/relay addition. */
  raw_result?: boolean
  /** Most calls one pull may carry (`GET /v1/relay/pull?max=N`, extras in `more`); an @iicp/relay addition. */
  max_pull_batch?: number
}

/** `GET /v1/relay/pull` 200 response: one consumer task (official-sdks.md §5.4). */
export interface RelayPullResponse {
  /** Relay-made id of this call (not the task_id). */
  call_id: string
  /** The consumer's task body as sent. */
  task: unknown
  /** Consumer request headers (traceparent, content-type, …); an @iicp/relay addition. */
  headers?: Record<string, string>
  /** Further queued calls, when the pull asked for `?max=N`; an @iicp/relay addition. */
  more?: RelayPullResponse[]
}

/** `POST /v1/relay/result` request (official-sdks.md §5.4). */
export interface RelayResultRequest {
  call_id: string
  /**
   * Without `http_status`: the handler's return value, merged by the relay into
   * `{task_id, status:"completed", ...result, generated_by_ai:true}` as the reference relay does.
   * With `http_status`: the worker node's complete response body, passed through unchanged.
   */
  result: unknown
  /** The worker node's HTTP status for this task; an @iicp/relay addition. */
  http_status?: number
  /** The worker node's response headers; an @iicp/relay addition. */
  http_headers?: Record<string, string>
  /** With `http_status`, instead of `result`: the node's response body as text, sent on unchanged (only when the bind answer said `raw_result`). */
  body?: string
}

/** `GET /v1/relay-for/{worker_id}/iicp/health` 200 response (official-sdks.md §5.3). */
export interface RelayForHealthResponse {
  status: 'ok'
  node_id: string
  via_relay: true
  models: string[]
  transport: string
}

type Fields = Record<string, string[]>

function fail(fields: Fields): never {
  throw new IicpError('validation_error', 'Input validation failed', { fields })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function stringMap(value: unknown, key: string, fields: Fields): Record<string, string> | undefined {
  if (value === undefined) return undefined
  if (!isRecord(value)) {
    fields[key] = ['must be an object of strings']
    return undefined
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      fields[`${key}.${k}`] = ['must be a string']
      continue
    }
    out[k.toLowerCase()] = v
  }
  return out
}

/** True when `id` may be bound as a worker id. */
export function isValidWorkerId(id: string): boolean {
  return WORKER_ID_RE.test(id)
}

/** Parse a bind request or throw IicpError `validation_error` (422) naming the fields. */
export function parseRelayBindRequest(value: unknown): RelayBindRequest {
  if (!isRecord(value)) fail({ '(root)': ['must be a JSON object'] })
  const fields: Fields = {}
  const { worker_id, intent, models, bind_ticket } = value
  if (typeof worker_id !== 'string' || !isValidWorkerId(worker_id)) {
    fields.worker_id = ['required: 1-128 characters of A-Z a-z 0-9 . _ : @ -']
  }
  if (intent !== undefined && intent !== null && (typeof intent !== 'string' || intent.length > 256)) {
    fields.intent = ['must be a string of at most 256 characters']
  }
  if (models !== undefined && models !== null &&
    (!Array.isArray(models) || models.length > 64 || !models.every((m) => typeof m === 'string' && m.length <= 256))) {
    fields.models = ['must be at most 64 strings']
  }
  if (bind_ticket !== undefined && bind_ticket !== null && (typeof bind_ticket !== 'string' || bind_ticket.length > 4096)) {
    fields.bind_ticket = ['must be a string of at most 4096 characters']
  }
  if (Object.keys(fields).length > 0) fail(fields)
  const out: RelayBindRequest = { worker_id: worker_id as string }
  if (typeof intent === 'string') out.intent = intent
  if (Array.isArray(models)) out.models = models as string[]
  if (typeof bind_ticket === 'string' && bind_ticket.length > 0) out.bind_ticket = bind_ticket
  return out
}

/** Parse a bind response (worker side) or throw IicpError `invalid_response`. */
export function parseRelayBindResponse(value: unknown): RelayBindResponse {
  if (!isRecord(value) || typeof value.session_token !== 'string' || value.session_token.length === 0) {
    throw new IicpError('invalid_response', 'relay bind answer has no session_token')
  }
  const poll = typeof value.poll_timeout_s === 'number' && value.poll_timeout_s > 0 ? value.poll_timeout_s : 25
  const path = typeof value.worker_endpoint_path === 'string' ? value.worker_endpoint_path : ''
  const out: RelayBindResponse = { session_token: value.session_token, poll_timeout_s: poll, worker_endpoint_path: path }
  if (value.raw_result === true) out.raw_result = true
  if (typeof value.max_pull_batch === 'number' && Number.isInteger(value.max_pull_batch) && value.max_pull_batch > 1) {
    out.max_pull_batch = value.max_pull_batch
  }
  return out
}

/** Parse a pull answer (worker side) or throw IicpError `invalid_response`. */
export function parseRelayPullResponse(value: unknown): RelayPullResponse {
  const out = parseOneCall(value)
  if (isRecord(value) && Array.isArray(value.more)) out.more = value.more.map(parseOneCall)
  return out
}

function parseOneCall(value: unknown): RelayPullResponse {
  if (!isRecord(value) || typeof value.call_id !== 'string' || value.call_id.length === 0 || !('task' in value)) {
    throw new IicpError('invalid_response', 'relay pull answer needs call_id and task')
  }
  const fields: Fields = {}
  const headers = stringMap(value.headers, 'headers', fields)
  const out: RelayPullResponse = { call_id: value.call_id, task: value.task }
  if (headers && Object.keys(fields).length === 0) out.headers = headers
  return out
}

/** Parse a result post (relay side) or throw IicpError `validation_error` (422). */
export function parseRelayResultRequest(value: unknown): RelayResultRequest {
  if (!isRecord(value)) fail({ '(root)': ['must be a JSON object'] })
  const fields: Fields = {}
  if (typeof value.call_id !== 'string' || value.call_id.length === 0 || value.call_id.length > 128) {
    fields.call_id = ['required string']
  }
  const status = value.http_status
  const raw = value.body
  if (raw !== undefined && (typeof raw !== 'string' || status === undefined)) {
    fields.body = ['must be a string, sent with http_status']
  }
  if (!('result' in value) && raw === undefined) {
    fields.result = [('event' in value) ? 'streaming relay events are not supported; post result' : 'required']
  }
  if (status !== undefined && (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)) {
    fields.http_status = ['must be an integer HTTP status 200-599']
  }
  const headers = stringMap(value.http_headers, 'http_headers', fields)
  if (Object.keys(fields).length > 0) fail(fields)
  const out: RelayResultRequest = { call_id: value.call_id as string, result: value.result }
  if (typeof status === 'number') out.http_status = status
  if (headers) out.http_headers = headers
  if (typeof raw === 'string') out.body = raw
  return out
}
