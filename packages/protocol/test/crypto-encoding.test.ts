// Proves the Buffer-free codecs behind tickets and IICP-CX agree with Node's Buffer on every input (property
// tests), and that the decoders refuse what the wire must not accept instead of guessing.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { constantTimeEqual, fromBase64, fromBase64Url, fromHex, fromUtf8, toBase64, toBase64Url, toHex, utf8 } from '../src/crypto/encoding.js'

describe('base64url', () => {
  it('encodes any bytes exactly as Buffer does (no padding) and decodes them back', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const text = toBase64Url(bytes)
      expect(text).toBe(Buffer.from(bytes).toString('base64url'))
      expect(fromBase64Url(text)).toEqual(bytes)
      expect(fromBase64Url(text + '='.repeat((4 - (text.length % 4)) % 4))).toEqual(bytes)
    }))
  })

  it('refuses characters outside the url-safe alphabet, bad padding and impossible lengths', () => {
    for (const bad of ['ab+c', 'ab/c', 'ab c', 'a', 'abcde', 'ab=c', 'abc==', 'é']) expect(fromBase64Url(bad), bad).toBeUndefined()
  })
})

describe('standard base64', () => {
  it('encodes any bytes exactly as Buffer does (with padding) and decodes them back', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const text = toBase64(bytes)
      expect(text).toBe(Buffer.from(bytes).toString('base64'))
      expect(fromBase64(text)).toEqual(bytes)
    }))
  })

  it('refuses url-safe characters', () => {
    expect(fromBase64('ab-_')).toBeUndefined()
  })
})

describe('hex', () => {
  it('encodes lowercase like Buffer and decodes either case', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const text = toHex(bytes)
      expect(text).toBe(Buffer.from(bytes).toString('hex'))
      expect(fromHex(text.toUpperCase())).toEqual(bytes)
    }))
  })

  it('refuses odd lengths and non-hex characters', () => {
    for (const bad of ['a', 'zz', '0g', ' 0']) expect(fromHex(bad), bad).toBeUndefined()
  })
})

describe('utf8', () => {
  it('round-trips any string without lone surrogates as Buffer does', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (text) => {
      expect(Buffer.from(utf8(text))).toEqual(Buffer.from(text, 'utf8'))
      expect(fromUtf8(utf8(text))).toBe(text)
    }))
  })

  it('reports invalid UTF-8 as undefined instead of replacing characters', () => {
    expect(fromUtf8(new Uint8Array([0xc3, 0x28]))).toBeUndefined()
  })
})

describe('constantTimeEqual', () => {
  it('is true exactly when the arrays are equal', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)))
      expect(constantTimeEqual(a, a.slice())).toBe(true)
    }))
  })
})
