/** Runs the worker's task handler and turns whatever it returns or throws into an HTTP-shaped answer (core §7). */
import { IicpError, errorBody, isIicpError, statusOf } from '@iicp/protocol'
import type { RelayTaskHandler } from '../options.js'

/** A handler answer ready for the wire. */
export interface TaskAnswer {
  status: number
  headers: Record<string, string>
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
    return { status: r.status, headers: r.headers ? lower(r.headers) : { ...JSON_HEADERS }, body: out }
  } catch (err) {
    const status = isIicpError(err) ? err.status ?? statusOf(err.code) : 500
    return { status, headers: { ...JSON_HEADERS }, body: Buffer.from(JSON.stringify(errorBody(err))) }
  }
}

function lower(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v)
  return out
}
