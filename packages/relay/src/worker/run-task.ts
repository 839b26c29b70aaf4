/** Runs the worker's task handler and turns whatever it returns or throws into an HTTP-shaped answer (core §7). */
import { IicpError, errorBody, isIicpError, statusOf } from '@iicp/protocol'
import type { RelayTaskHandler } from '../options.js'

/** A handler answer ready for the wire. */
export interface TaskAnswer {
  status: number
  /** Lower-case names; may be shared between answers, never mutate. */
  headers: Readonly<Record<string, string>>
  body: Buffer
}

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' })

/** Never rejects: handler errors become `{error:{code,message}}` with the code's status; unknown errors a bare 500. */
export async function runTask(handle: RelayTaskHandler, body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<TaskAnswer> {
  try {
    const r = await handle(body, headers, signal)
    if (!Number.isInteger(r.status) || r.status < 100 || r.status > 599) {
      throw new IicpError('invalid_response', 'task handler returned an invalid HTTP status')
    }
    let out: Buffer
    if (typeof r.body === 'string') out = Buffer.from(r.body)
    else if (r.body instanceof Uint8Array) out = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength)
    else out = Buffer.from(JSON.stringify(r.body))
    return { status: r.status, headers: r.headers ? lower(r.headers) : JSON_HEADERS, body: out }
  } catch (err) {
    const status = isIicpError(err) ? err.status ?? statusOf(err.code) : 500
    return { status, headers: JSON_HEADERS, body: Buffer.from(JSON.stringify(errorBody(err))) }
  }
}

/** Lower-cased copies of frozen header objects: a node answers every task with the same frozen headers. */
const lowered = new WeakMap<object, Readonly<Record<string, string>>>()

function lower(headers: Record<string, string>): Readonly<Record<string, string>> {
  const frozen = Object.isFrozen(headers)
  if (frozen) {
    const hit = lowered.get(headers)
    if (hit !== undefined) return hit
  }
  const out: Record<string, string> = {}
  for (const k of Object.keys(headers)) out[k.toLowerCase()] = String(headers[k])
  if (!frozen) return out
  Object.freeze(out)
  lowered.set(headers, out)
  return out
}
