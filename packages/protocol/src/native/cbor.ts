/**
 * CBOR for native payloads through cborg (frm §4.1, §4.16; iicp-cbor-wire.md §1.1). Encoding is deterministic:
 * shortest integers and floats, definite lengths, map keys in the length-first order the Python SDK's
 * `cbor2 canonical=True` also produces, so our frames match its bytes. Decoding is strict (minimal integers,
 * no indefinite lengths, no duplicate keys, no `undefined`, no tags, valid UTF-8) and returns error values.
 */
import { decode, encode, Tokenizer, Type } from 'cborg'
import type { DecodeOptions, EncodeOptions, Token } from 'cborg'
import { IicpError } from '../errors.js'
import type { NativeCodecError } from './frame.js'

/** Result of {@link decodeCbor}. Maps decode as `Map`, byte strings as `Uint8Array`. */
export type DecodeCborResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: NativeCodecError }

/** Options of {@link decodeCbor}. */
export interface DecodeCborOptions {
  /**
   * Also refuse input that is well-formed but not in deterministic form (key order, float width) by
   * re-encoding and comparing (frm §4.1). Off by default: the official TS and Rust SDKs emit maps in
   * insertion order, and refusing them would cut this SDK off from their nodes.
   * @default false
   */
  readonly requireCanonical?: boolean
}

const ENCODE_OPTIONS: EncodeOptions = Object.freeze({ ignoreUndefinedProperties: true })
const BASE_DECODE_OPTIONS: DecodeOptions = Object.freeze({
  strict: true,
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
})
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Length of a text string's head, from its initial byte's additional info (RFC 8949 §3). */
function headLength(initial: number): number {
  const info = initial & 0x1f
  if (info < 24) return 1
  return info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : 9
}

/**
 * cborg turns invalid UTF-8 into U+FFFD without a word; frm §4.16 says refuse it. This tokenizer checks the
 * raw bytes of every non-ASCII text string, which costs nothing for the ASCII-only strings that dominate.
 */
class Utf8CheckingTokenizer {
  readonly #inner: Tokenizer
  readonly #data: Uint8Array

  constructor(data: Uint8Array, options: DecodeOptions) {
    this.#inner = new Tokenizer(data, options)
    this.#data = data
  }

  done(): boolean {
    return this.#inner.done()
  }

  pos(): number {
    return this.#inner.pos()
  }

  next(): Token {
    const start = this.#inner.pos()
    const token = this.#inner.next()
    if (Type.equals(token.type, Type.string)) {
      const data = this.#data
      const end = this.#inner.pos()
      const from = start + headLength(data[start] ?? 0)
      for (let i = from; i < end; i++) {
        if ((data[i] ?? 0) >= 0x80) {
          utf8.decode(data.subarray(from, end))
          break
        }
      }
    }
    return token
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Decodes one CBOR item strictly (frm §4.1, §4.16, §9.6 `cbor_decode_error`). Never throws. */
export function decodeCbor(bytes: Uint8Array, options: DecodeCborOptions = {}): DecodeCborResult {
  let value: unknown
  try {
    const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    value = decode(plain, { ...BASE_DECODE_OPTIONS, tokenizer: new Utf8CheckingTokenizer(plain, BASE_DECODE_OPTIONS) })
  } catch (err) {
    // The library's message names the malformation, never payload content; a stack overflow from absurd
    // nesting lands here too.
    const reason = err instanceof Error && !(err instanceof RangeError) ? err.message.replace(/^CBOR decode error: /, '') : 'nesting too deep'
    return { ok: false, error: { code: 'cbor_decode_error', message: `payload is not valid CBOR: ${reason}` } }
  }
  if (options.requireCanonical === true) {
    let again: Uint8Array
    try {
      again = encode(value, ENCODE_OPTIONS)
    } catch {
      return { ok: false, error: { code: 'cbor_decode_error', message: 'payload cannot be re-encoded deterministically' } }
    }
    if (!sameBytes(again, bytes)) {
      return { ok: false, error: { code: 'invalid_payload', message: 'payload is not deterministic CBOR' } }
    }
  }
  return { ok: true, value }
}

/**
 * Encodes a value as deterministic CBOR (frm §4.1). Use `Map` for integer keys: a plain object's keys are
 * text. Throws IicpError `validation_error` for values CBOR cannot carry (functions, symbols, cycles).
 */
export function encodeCbor(value: unknown): Uint8Array {
  try {
    return encode(value, ENCODE_OPTIONS)
  } catch (err) {
    throw new IicpError('validation_error', 'value cannot be encoded as CBOR', { cause: err })
  }
}

/**
 * Text-keyed maps become plain objects (`Object.fromEntries` defines `__proto__` as an own key, so no
 * prototype is touched); maps with other keys stay `Map`s so nothing is lost.
 */
export function plain(value: unknown): unknown {
  if (value instanceof Map) {
    let textKeys = true
    for (const k of value.keys()) {
      if (typeof k !== 'string') {
        textKeys = false
        break
      }
    }
    if (textKeys) return Object.fromEntries(Array.from(value, ([k, v]: [unknown, unknown]) => [k, plain(v)]))
    return new Map(Array.from(value, ([k, v]: [unknown, unknown]) => [k, plain(v)]))
  }
  if (Array.isArray(value)) return value.map(plain)
  return value
}
