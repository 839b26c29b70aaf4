/**
 * The bodies inside CALL and RESPONSE key 5, whose encoding depends on the path (official-sdks.md §6.2): a CALL
 * carries JSON bytes (or a CBOR map); a direct RESPONSE carries CBOR bytes of the handler's unwrapped result; a
 * relay RESPONSE carries JSON bytes of the handler's whole return value. These readers keep that asymmetry in one
 * place and return error values instead of throwing.
 */
import { IicpError } from '../errors.js'
import { decodeCbor, plain } from './cbor.js'
import type { NativeCodecError } from './frame.js'
import type { NativeCall, NativeResponse } from './messages.js'

/** Result of the payload readers. */
export type PayloadResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: NativeCodecError }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function invalid(message: string): { readonly ok: false; readonly error: NativeCodecError } {
  return { ok: false, error: { code: 'invalid_payload', message } }
}

function isTextKeyed(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Uint8Array)
}

/** UTF-8 JSON bytes for CALL/RESPONSE key 5 (official-sdks.md §5.2). Throws IicpError `validation_error` if not JSON-able. */
export function encodeJsonBytes(value: unknown): Uint8Array {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (err) {
    throw new IicpError('validation_error', 'value cannot be encoded as JSON', { cause: err })
  }
  if (json === undefined) throw new IicpError('validation_error', 'value cannot be encoded as JSON')
  return encoder.encode(json)
}

/** Parses UTF-8 JSON bytes (official-sdks.md §5.2). Never throws. */
export function decodeJsonBytes(bytes: Uint8Array): PayloadResult<unknown> {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) }
  } catch {
    return invalid('key 5 is not UTF-8 JSON')
  }
}

/**
 * The task object of a CALL (key 5), whichever form it came in: JSON bytes or a CBOR map (official-sdks.md §6.2).
 * On the relay path that object is the whole HTTP task body; on the direct path it is the payload alone.
 */
export function readCallPayload(call: NativeCall): PayloadResult<Record<string, unknown>> {
  const raw = call.payload
  if (raw === undefined) return invalid('CALL has no payload (key 5)')
  if (!(raw instanceof Uint8Array)) return { ok: true, value: raw }
  const parsed = decodeJsonBytes(raw)
  if (!parsed.ok) return parsed
  return isTextKeyed(parsed.value) ? { ok: true, value: parsed.value } : invalid('CALL payload (key 5) is not a JSON object')
}

/**
 * The result of a buffered RESPONSE (key 5): CBOR bytes on the `direct` path, JSON bytes on the `relay` path
 * (official-sdks.md §6.2). A result that is already a native CBOR item is returned as is; `undefined` when absent.
 */
export function readResponseResult(response: NativeResponse, path: 'direct' | 'relay'): PayloadResult<unknown> {
  const raw = response.result
  if (!(raw instanceof Uint8Array)) return { ok: true, value: raw }
  if (path === 'relay') return decodeJsonBytes(raw)
  const decoded = decodeCbor(raw)
  if (!decoded.ok) return decoded
  try {
    return { ok: true, value: plain(decoded.value) }
  } catch {
    // Only a stack overflow from absurd nesting can land here.
    return invalid('result (key 5) nests too deeply')
  }
}
