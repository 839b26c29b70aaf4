/**
 * Byte encodings used on the wire (base64url without padding, lowercase hex, UTF-8) without Buffer,
 * so @iicp/protocol runs unchanged in browsers (reference-implementations §3.8, §5.4).
 */
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B64_LOOKUP = new Int16Array(128).fill(-1)
for (let i = 0; i < B64URL.length; i++) B64_LOOKUP[B64URL.charCodeAt(i)] = i
// Standard base64 shares the first 62 symbols; '+' and '/' decode like '-' and '_' only in decodeBase64.
const B64STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text)
}

/** Strict UTF-8 decode; returns undefined on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    // Invalid UTF-8 is a caller-visible "malformed" outcome, not an exception.
    return undefined
  }
}

function encode64(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]! + (pad ? '==' : '')
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? '=' : '')
  }
  return out
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return encode64(bytes, B64URL, false)
}

/** Standard base64 with padding (PKCS#8 persistence). */
export function toBase64(bytes: Uint8Array): string {
  return encode64(bytes, B64STD, true)
}

function decode64(text: string, standard: boolean): Uint8Array | undefined {
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* '=' */) end--
  if (text.length - end > 2 || end % 4 === 1) return undefined
  if (text.length !== end && text.length % 4 !== 0) return undefined
  const out = new Uint8Array(Math.floor((end * 3) / 4))
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < end; i++) {
    let c = text.charCodeAt(i)
    if (standard) {
      if (c === 43 /* '+' */) c = 45
      else if (c === 47 /* '/' */) c = 95
      else if (c === 45 || c === 95) return undefined
    }
    const v = c < 128 ? B64_LOOKUP[c]! : -1
    if (v < 0) return undefined
    acc = (acc << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out
}

/** Decode base64url (padding optional); undefined on any character outside the alphabet. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  return decode64(text, false)
}

/** Decode standard base64 (padding optional); undefined when malformed. */
export function fromBase64(text: string): Uint8Array | undefined {
  return decode64(text, true)
}

const HEX = '0123456789abcdef'

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!
  return out
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Decode hex (either case); undefined on odd length or a non-hex character. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0) return undefined
  const out = new Uint8Array(text.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(text.charCodeAt(2 * i))
    const lo = hexNibble(text.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

/** Byte-array equality in time independent of where the arrays differ (false on length mismatch). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Concatenate byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
