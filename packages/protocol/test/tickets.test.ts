// Proves dispatch-route and relay-bind tickets follow wire.md §1.6 / reference-implementations §3.8: every vector
// of the spec's dispatch-route-ticket-v1 fixture gives the expected outcome and reason, our tickets verify under
// node:crypto (an independent Ed25519) and round-trip, and tampering, wrong claims and junk input are rejected
// with a reason instead of an exception.
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { isIicpError } from '../src/errors.js'
import {
  DISPATCH_TICKET_CONTEXT, RELAY_BIND_TICKET_CONTEXT, TICKET_REJECT_REASONS, generateSigningKeyPair, signDispatchTicket,
  signRelayBindTicket, signingKeyPairFromPkcs8, verifyDispatchTicket, verifyRelayBindTicket,
} from '../src/tickets.js'
import type { DispatchTicketClaims, RelayBindTicketClaims, SigningKeyPair } from '../src/tickets.js'

interface TicketFixture {
  domain: string
  public_key_hex: string
  valid: { token: string; claims: DispatchTicketClaims }
  wrong_audience: { token: string }
  invalid_cases: string[]
  validation_vectors: { name: string; token: string; issuer: string; node_id: string; intent: string; now_s: number; expected: string }[]
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/spec/conformance-runner/src/iicp_conformance/fixtures/dispatch-route-ticket-v1.json', import.meta.url), 'utf8'),
) as TicketFixture

// The fixture names tokens indirectly; "valid+0" is the valid token with a "0" appended (as the spec's runner does).
function vectorToken(ref: string): string {
  if (ref === 'valid') return fixture.valid.token
  if (ref === 'valid+0') return `${fixture.valid.token}0`
  if (ref === 'wrong_audience') return fixture.wrong_audience.token
  return ref
}

const NOW = 1_800_000_000
const dispatchClaims = (over: Partial<DispatchTicketClaims> = {}): DispatchTicketClaims => ({
  v: 1, typ: 'dispatch-route-ticket', iss: 'http://127.0.0.1:8080', aud: 'iicp.directory.dispatch',
  jti: '69bd87a4f2de41e028600748', node_id: 'py-echo-node-1', intent: 'urn:iicp:intent:llm:chat:v1',
  iat: NOW, exp: NOW + 120, ...over,
})
const relayClaims = (over: Partial<RelayBindTicketClaims> = {}): RelayBindTicketClaims => ({
  v: 1, typ: 'relay-bind-ticket', jti: '0123456789abcdef0123456789abcdef', iss: 'http://127.0.0.1:8080',
  sub: 'worker-1', aud: 'relay-1', iat: NOW, exp: NOW + 120, ...over,
})

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url')
async function signRaw(context: string, payloadJson: string, key: SigningKeyPair): Promise<string> {
  // Signs arbitrary claims with node:crypto so the verifier sees claims our own signer refuses to produce.
  const { createPrivateKey, sign } = await import('node:crypto')
  const priv = createPrivateKey({ key: Buffer.from(key.privateKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' })
  const payload = b64url(payloadJson)
  return `${payload}.${sign(null, Buffer.from(context + payload, 'ascii'), priv).toString('hex')}`
}

describe('dispatch-route-ticket-v1 spec fixture', () => {
  it('uses the same domain string as our context constant', () => {
    expect(fixture.domain).toBe(DISPATCH_TICKET_CONTEXT)
  })

  it('lists a validation vector for every invalid case', () => {
    expect(fixture.validation_vectors.map((v) => v.name).filter((n) => n !== 'valid').sort()).toEqual([...fixture.invalid_cases].sort())
  })

  for (const vector of fixture.validation_vectors) {
    it(`gives "${vector.expected}" for the ${vector.name} vector${vector.expected === 'valid' ? '' : ', with that reason'}`, async () => {
      const result = await verifyDispatchTicket(vectorToken(vector.token), {
        publicKeyHex: fixture.public_key_hex, issuer: vector.issuer, nodeId: vector.node_id, intent: vector.intent, nowSeconds: vector.now_s,
      })
      if (vector.expected === 'valid') {
        expect(result).toEqual({ ok: true, claims: fixture.valid.claims })
      } else {
        expect(result).toEqual({ ok: false, reason: vector.name })
      }
    })
  }

  it('accepts the valid vector with no optional checks at all', async () => {
    const result = await verifyDispatchTicket(fixture.valid.token, { publicKeyHex: fixture.public_key_hex, nowSeconds: NOW })
    expect(result.ok).toBe(true)
  })
})

describe('signDispatchTicket and verifyDispatchTicket', () => {
  it('round-trips claims, including policy_manifest_sha256', async () => {
    const key = await generateSigningKeyPair()
    const claims = dispatchClaims({ policy_manifest_sha256: 'a'.repeat(64) })
    const ticket = await signDispatchTicket(claims, key)
    expect(ticket).toMatch(/^[A-Za-z0-9_-]+\.[0-9a-f]{128}$/)
    expect(await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, issuer: claims.iss, nodeId: claims.node_id, intent: claims.intent, nowSeconds: NOW + 60 }))
      .toEqual({ ok: true, claims })
  })

  it('produces a signature node:crypto verifies over the context string plus the base64url part', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signDispatchTicket(dispatchClaims(), key)
    const [payload = '', sig = ''] = ticket.split('.')
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKeyHex, 'hex')])
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    expect(nodeVerify(null, Buffer.from(DISPATCH_TICKET_CONTEXT + payload, 'ascii'), pub, Buffer.from(sig, 'hex'))).toBe(true)
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))).toEqual(dispatchClaims())
  })

  it('rejects a ticket signed by another key as bad_signature', async () => {
    const [a, b] = [await generateSigningKeyPair(), await generateSigningKeyPair()]
    const ticket = await signDispatchTicket(dispatchClaims(), a)
    expect(await verifyDispatchTicket(ticket, { publicKeyHex: b.publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('rejects a tampered payload or signature as bad_signature', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signDispatchTicket(dispatchClaims(), key)
    const [payload = '', sig = ''] = ticket.split('.')
    const forged = b64url(JSON.stringify(dispatchClaims({ node_id: 'attacker-node' })))
    const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1)
    const opts = { publicKeyHex: key.publicKeyHex, nowSeconds: NOW }
    expect(await verifyDispatchTicket(`${forged}.${sig}`, opts)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(await verifyDispatchTicket(`${payload}.${flipped}`, opts)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(await verifyDispatchTicket(`${payload}.${sig.slice(0, 126)}`, opts)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('rejects a relay-bind ticket presented as a dispatch ticket (domain separation)', async () => {
    const key = await generateSigningKeyPair()
    const relay = await signRelayBindTicket(relayClaims(), key)
    expect(await verifyDispatchTicket(relay, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('applies the skew to a future iat but treats exp strictly', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signDispatchTicket(dispatchClaims({ iat: NOW + 20, exp: NOW + 140 }), key)
    const base = { publicKeyHex: key.publicKeyHex }
    expect((await verifyDispatchTicket(ticket, { ...base, nowSeconds: NOW })).ok).toBe(true)
    expect(await verifyDispatchTicket(ticket, { ...base, nowSeconds: NOW, skewSeconds: 10 })).toEqual({ ok: false, reason: 'not_yet_valid' })
    expect((await verifyDispatchTicket(ticket, { ...base, nowSeconds: NOW + 139 })).ok).toBe(true)
    expect(await verifyDispatchTicket(ticket, { ...base, nowSeconds: NOW + 140 })).toEqual({ ok: false, reason: 'expired' })
  })

  it('checks audience against the dispatch default unless another is given', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signDispatchTicket(dispatchClaims({ aud: 'custom-aud' }), key)
    expect(await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'wrong_audience' })
    expect((await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW, audience: 'custom-aud' })).ok).toBe(true)
  })

  it('names the broken claim when correctly signed claims are wrong', async () => {
    const key = await generateSigningKeyPair()
    const good = dispatchClaims() as unknown as Record<string, unknown>
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, v: 2 }, 'wrong_version'],
      [{ ...good, typ: 'relay-bind-ticket' }, 'wrong_type'],
      [{ ...good, jti: 'ABCDEF0123456789abcdef01' }, 'malformed_claims'],
      [{ ...good, jti: '0123' }, 'malformed_claims'],
      [{ ...good, iat: '1800000000' }, 'malformed_claims'],
      [{ ...good, exp: NOW - 1 }, 'malformed_claims'],
      [{ ...good, node_id: 7 }, 'malformed_claims'],
      [{ ...good, policy_manifest_sha256: 'xyz' }, 'malformed_claims'],
    ]
    for (const [claims, reason] of cases) {
      const ticket = await signRaw(DISPATCH_TICKET_CONTEXT, JSON.stringify(claims), key)
      expect(await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW }), reason).toEqual({ ok: false, reason })
    }
  })

  it('treats a validly signed payload that is not a JSON object as malformed_token', async () => {
    const key = await generateSigningKeyPair()
    for (const body of ['[1,2]', 'null', '"text"', '{not json']) {
      const ticket = await signRaw(DISPATCH_TICKET_CONTEXT, body, key)
      expect(await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'malformed_token' })
    }
  })

  it('never throws on junk input and answers malformed_token or bad_signature', async () => {
    const inputs: unknown[] = ['', '.', 'abc.', '.abc', 'a.b.c', 'a b.' + '0'.repeat(128), 'ab+/.' + '0'.repeat(128), 'x'.repeat(9000), 42, null, undefined, {}]
    for (const input of inputs) {
      const result = await verifyDispatchTicket(input as string, { publicKeyHex: fixture.public_key_hex })
      expect(result.ok).toBe(false)
      expect(['malformed_token', 'bad_signature']).toContain((result as { reason: string }).reason)
    }
  })

  it('answers invalid_public_key for a key that is not 64 hex characters', async () => {
    for (const publicKeyHex of ['', 'zz'.repeat(32), fixture.public_key_hex.slice(2)]) {
      expect(await verifyDispatchTicket(fixture.valid.token, { publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'invalid_public_key' })
    }
  })

  it('only ever answers reasons from TICKET_REJECT_REASONS', async () => {
    const r = await verifyDispatchTicket('nope', { publicKeyHex: fixture.public_key_hex })
    expect(TICKET_REJECT_REASONS).toContain((r as { reason: string }).reason)
  })

  it('refuses to sign malformed claims with IicpError invalid_ticket', async () => {
    const key = await generateSigningKeyPair()
    await expect(signDispatchTicket(dispatchClaims({ jti: 'short' }), key)).rejects.toSatisfy(
      (err: unknown) => isIicpError(err) && err.code === 'invalid_ticket',
    )
  })
})

describe('signing keys', () => {
  it('persist as 64-hex public key plus base64 PKCS#8 and reload to the same pair', async () => {
    const key = await generateSigningKeyPair()
    expect(key.publicKeyHex).toMatch(/^[0-9a-f]{64}$/)
    expect(Buffer.from(key.privateKeyPkcs8, 'base64').toString('base64')).toBe(key.privateKeyPkcs8)
    const reloaded = await signingKeyPairFromPkcs8(key.privateKeyPkcs8)
    expect(reloaded).toEqual(key)
    const ticket = await signDispatchTicket(dispatchClaims(), reloaded)
    expect((await verifyDispatchTicket(ticket, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW })).ok).toBe(true)
  })

  it('reject a persisted key that is not PKCS#8 with IicpError invalid_config', async () => {
    for (const bad of ['not base64!', 'AAAA']) {
      await expect(signingKeyPairFromPkcs8(bad)).rejects.toSatisfy((err: unknown) => isIicpError(err) && err.code === 'invalid_config')
    }
  })
})

describe('relay-bind tickets', () => {
  it('round-trip and verify for the named relay, the worker subject and the issuer', async () => {
    const key = await generateSigningKeyPair()
    const claims = relayClaims()
    const ticket = await signRelayBindTicket(claims, key)
    expect(await verifyRelayBindTicket(ticket, { publicKeyHex: key.publicKeyHex, issuer: claims.iss, audience: 'relay-1', subject: 'worker-1', nowSeconds: NOW }))
      .toEqual({ ok: true, claims })
  })

  it('are signed over the relay-bind context, checked independently with node:crypto', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signRelayBindTicket(relayClaims(), key)
    const [payload = '', sig = ''] = ticket.split('.')
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKeyHex, 'hex')])
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    expect(nodeVerify(null, Buffer.from(RELAY_BIND_TICKET_CONTEXT + payload, 'ascii'), pub, Buffer.from(sig, 'hex'))).toBe(true)
  })

  it('bind to any relay when aud is "*"', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signRelayBindTicket(relayClaims({ aud: '*' }), key)
    expect((await verifyRelayBindTicket(ticket, { publicKeyHex: key.publicKeyHex, audience: 'relay-9', nowSeconds: NOW })).ok).toBe(true)
  })

  it('are rejected for another relay, another worker, another issuer, after expiry or as a dispatch ticket', async () => {
    const key = await generateSigningKeyPair()
    const ticket = await signRelayBindTicket(relayClaims(), key)
    const base = { publicKeyHex: key.publicKeyHex, nowSeconds: NOW }
    expect(await verifyRelayBindTicket(ticket, { ...base, audience: 'relay-2' })).toEqual({ ok: false, reason: 'wrong_audience' })
    expect(await verifyRelayBindTicket(ticket, { ...base, subject: 'worker-2' })).toEqual({ ok: false, reason: 'wrong_subject' })
    expect(await verifyRelayBindTicket(ticket, { ...base, issuer: 'http://127.0.0.1:8080/' })).toEqual({ ok: false, reason: 'wrong_issuer' })
    expect(await verifyRelayBindTicket(ticket, { ...base, nowSeconds: NOW + 120 })).toEqual({ ok: false, reason: 'expired' })
    const dispatch = await signDispatchTicket(dispatchClaims(), key)
    expect(await verifyRelayBindTicket(dispatch, base)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('need a jti of at least 128 random bits', async () => {
    const key = await generateSigningKeyPair()
    const weak = await signRaw(RELAY_BIND_TICKET_CONTEXT, JSON.stringify(relayClaims({ jti: '0123456789abcdef' })), key)
    expect(await verifyRelayBindTicket(weak, { publicKeyHex: key.publicKeyHex, nowSeconds: NOW })).toEqual({ ok: false, reason: 'malformed_claims' })
    await expect(signRelayBindTicket(relayClaims({ jti: '0123456789abcdef' }), key)).rejects.toSatisfy(
      (err: unknown) => isIicpError(err) && err.code === 'invalid_ticket',
    )
  })
})
