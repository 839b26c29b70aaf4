/**
 * Reading a task RESPONSE (wire.md §2.3; reference-implementations §5.3) on the submit hot path. The answer
 * nearly every node gives, a plaintext `status:"success"` envelope with only the core fields, is checked field
 * by field with exactly the rules of the protocol's `TaskResponseSchema`; every other shape (aliased statuses,
 * errors, encrypted replies, extension fields, anything odd) goes through the schema itself. A zod parse cost
 * more than the rest of the client's own work on a task, and the answer it returns is the same.
 */
import { IicpError, TaskResponseSchema, safeParseWire } from '@iicp/protocol'
import type { TaskResponse } from '@iicp/protocol'
import type { HttpResponse } from './http.js'

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `TaskMetricsSchema` for the two core fields; any other key sends the envelope to the schema. */
function metricsOk(m: unknown): boolean {
  if (m === undefined || m === null) return true
  if (!isPlainRecord(m)) return false
  for (const k in m) {
    const v = m[k]
    if (k === 'latency_ms') {
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) return false
    } else if (k === 'tokens_used') {
      // zod's int() is a safe integer.
      if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0)) return false
    } else {
      return false
    }
  }
  return true
}

/**
 * The common success envelope, or undefined when the schema must decide. Only own keys the schema names are
 * accepted here, so what the schema would copy, coerce or drop (a `__proto__` key, `completed`) never takes this path.
 */
function commonSuccess(v: unknown): TaskResponse | undefined {
  if (!isPlainRecord(v) || typeof v.task_id !== 'string' || v.status !== 'success') return undefined
  for (const k in v) {
    const f = v[k]
    switch (k) {
      case 'task_id':
      case 'status':
      case 'result':
      case 'error':
        break
      case 'metrics':
        if (!metricsOk(f)) return undefined
        break
      case 'model_used':
        if (f !== undefined && f !== null && typeof f !== 'string') return undefined
        break
      case 'generated_by_ai':
        if (f !== undefined && typeof f !== 'boolean') return undefined
        break
      case 'node_id':
        if (f !== undefined && typeof f !== 'string') return undefined
        break
      default:
        return undefined
    }
  }
  return v as TaskResponse
}

/** Validate a parsed task RESPONSE; an off-schema one is `invalid_response`. */
export function readTaskResponse(data: unknown): TaskResponse {
  const fast = commonSuccess(data)
  if (fast !== undefined) return fast
  const parsed = safeParseWire(TaskResponseSchema, data, 'invalid_response')
  if (!parsed.ok) throw parsed.error
  return parsed.value
}

/** Parse a 2xx task reply body; HTML, empty or off-schema bodies are `invalid_response` (as http.ts parseJsonBody). */
export function parseTaskResponseBody(response: HttpResponse): TaskResponse {
  let data: unknown
  try {
    data = JSON.parse(response.text)
  } catch {
    throw new IicpError('invalid_response', `Peer answered HTTP ${response.status} with a body that is not JSON`, { status: response.status })
  }
  return readTaskResponse(data)
}
