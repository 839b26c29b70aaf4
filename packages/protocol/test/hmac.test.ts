// Proves the heartbeat challenge HMAC matches RFC 4231 and node:crypto (the Python SDK computes the same
// hex HMAC-SHA256 over the UTF-8 key and challenge), that verification is strict, and that the hashing
// and random helpers produce what the wire expects.
import { createHash, createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isIicpError } from '../src/errors.js'
import { heartbeatChallengeResponse, randomHex, sha256Hex, timingSafeEqualHex, verifyChallengeResponse } from '../src/hmac.js'

describe('heartbeatChallengeResponse', () => {
  it('matches RFC 4231 test case 2 (key "Jefe")', async () => {
    expect(await heartbeatChallengeResponse('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    )
  })

  it('equals node:crypto HMAC-SHA256 over the UTF-8 key and a directory challenge', async () => {
    const key = 'c0ffee-node-hmac-key-ünïcode'
    const challenge = '913bf23b21dfc003ccbc5d4407dacb52'
    const expected = createHmac('sha256', Buffer.from(key, 'utf8')).update(challenge, 'utf8').digest('hex')
    expect(await heartbeatChallengeResponse(key, challenge)).toBe(expected)
  })

  it('answers in 64 lowercase hex characters', async () => {
    expect(await heartbeatChallengeResponse('k', '')).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('verifyChallengeResponse', () => {
  it('accepts the right response in either hex case', async () => {
    const response = await heartbeatChallengeResponse('key', 'challenge')
    expect(await verifyChallengeResponse('key', 'challenge', response)).toBe(true)
    expect(await verifyChallengeResponse('key', 'challenge', response.toUpperCase())).toBe(true)
  })

  it('rejects a response made with another key, for another challenge, truncated or empty', async () => {
    const response = await heartbeatChallengeResponse('key', 'challenge')
    expect(await verifyChallengeResponse('other', 'challenge', response)).toBe(false)
    expect(await verifyChallengeResponse('key', 'challenge2', response)).toBe(false)
    expect(await verifyChallengeResponse('key', 'challenge', response.slice(0, 63))).toBe(false)
    expect(await verifyChallengeResponse('key', 'challenge', '')).toBe(false)
  })

  it('answers false rather than throwing when the response is not a string', async () => {
    expect(await verifyChallengeResponse('key', 'challenge', null as unknown as string)).toBe(false)
  })
})

describe('sha256Hex', () => {
  it('hashes the UTF-8 of a string like FIPS 180-2 ("abc")', async () => {
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('hashes raw bytes like node:crypto', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255])
    expect(await sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'))
  })
})

describe('randomHex', () => {
  it('returns two lowercase hex characters per byte and differs between calls', () => {
    const a = randomHex(16)
    expect(a).toMatch(/^[0-9a-f]{32}$/)
    expect(randomHex(16)).not.toBe(a)
  })

  it('fills more than the 65536 bytes Web Crypto allows per call', () => {
    const big = randomHex(70000)
    expect(big).toHaveLength(140000)
    // The tail past the first 64 KiB must be filled too, not left as zeros.
    expect(big.slice(131072)).not.toMatch(/^0+$/)
  })

  it('throws invalid_config for a zero, fractional or negative byte count', () => {
    for (const n of [0, 1.5, -1, Number.NaN]) {
      let caught: unknown
      try {
        randomHex(n)
      } catch (err) {
        caught = err
      }
      expect(isIicpError(caught) && caught.code).toBe('invalid_config')
    }
  })
})

describe('timingSafeEqualHex', () => {
  it('is true only for identical strings', () => {
    expect(timingSafeEqualHex('abc123', 'abc123')).toBe(true)
    expect(timingSafeEqualHex('abc123', 'abc124')).toBe(false)
    expect(timingSafeEqualHex('', '')).toBe(true)
  })

  it('is false on a length mismatch and on a case difference', () => {
    expect(timingSafeEqualHex('abc', 'abcd')).toBe(false)
    expect(timingSafeEqualHex('ABC', 'abc')).toBe(false)
  })
})
