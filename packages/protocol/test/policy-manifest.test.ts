// Proves the canonical policy manifest matches an independently generated canonicaliser (vectors from Python's
// json.dumps), that verifyPolicyManifest accepts a real Ed25519 signature over exactly that form, and that it tells
// tampered, expired, malformed and unsigned manifests apart with the nodelist.json verification statuses.
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { canonicalPolicyManifest, verifyPolicyManifest } from '../src/index.js'

interface Vector { name: string; manifest: Record<string, unknown>; canonical: string; sha256: string }
const read = (rel: string): string => readFileSync(new URL(rel, import.meta.url), 'utf8')
const VECTORS = (JSON.parse(read('./fixtures/policy-manifest/vectors.json')) as { cases: Vector[] }).cases
const NOW = Date.parse('2027-01-01T00:00:00Z')

function signedManifest(overrides: Record<string, unknown> = {}, expiresAt: string | null = '2030-01-01T00:00:00Z'): Record<string, unknown> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const m: Record<string, unknown> = {
    version: '1', jurisdiction: 'DE', remote_executor_can_read_prompt: false, retention: { task_payload: 'none', logs_days: 0 },
    ...overrides,
    signature: { algorithm: 'Ed25519', key_id: 'k1', public_key: raw.toString('base64'), signed_at: '2026-01-01T00:00:00Z', expires_at: expiresAt },
  }
  const sig = sign(null, Buffer.from(canonicalPolicyManifest(m), 'utf8'), privateKey)
  ;(m.signature as Record<string, unknown>).signature = sig.toString('base64')
  return m
}

describe('canonicalPolicyManifest', () => {
  it('is byte-identical to the client fixture it was copied from', () => {
    expect(read('./fixtures/policy-manifest/vectors.json')).toBe(read('../../client/test/fixtures/policy-manifest-binding/vectors.json'))
  })

  it.each(VECTORS.map((v) => [v.name, v] as const))('matches the independent canonicaliser on %s', (_name, v) => {
    expect(canonicalPolicyManifest(v.manifest)).toBe(v.canonical)
    expect(createHash('sha256').update(v.canonical, 'utf8').digest('hex')).toBe(v.sha256)
  })
})

describe('verifyPolicyManifest', () => {
  it('accepts the vector signed in Python and reports its canonical hash and key digest', async () => {
    const v = VECTORS.find((c) => c.name === 'signed_ed25519')!
    const r = await verifyPolicyManifest(v.manifest, NOW)
    const key = Buffer.from((v.manifest.signature as { public_key: string }).public_key, 'base64')
    expect(r).toEqual({
      status: 'signed_valid', algorithm: 'Ed25519', key_id: 'test-key-1', signed_at: '2026-07-02T10:00:00Z', expires_at: '2036-07-02T10:00:00Z',
      canonical_sha256: v.sha256, public_key_sha256: createHash('sha256').update(key).digest('hex'), error: null,
    })
  })

  it('calls a manifest without a signature object self_attested, with its hash', async () => {
    const v = VECTORS.find((c) => c.name === 'unsigned_dir_3_1_example')!
    expect(await verifyPolicyManifest(v.manifest, NOW)).toMatchObject({ status: 'self_attested', canonical_sha256: v.sha256, error: null })
  })

  it('rejects a manifest changed after signing', async () => {
    const m = signedManifest()
    expect((await verifyPolicyManifest(m, NOW)).status).toBe('signed_valid')
    const tampered = { ...m, retention: { task_payload: 'transient', logs_days: 30 } }
    expect(await verifyPolicyManifest(tampered, NOW)).toMatchObject({ status: 'signed_invalid', error: 'signature_mismatch' })
  })

  it('reports an expired signature as signed_expired, and no expiry as valid', async () => {
    expect(await verifyPolicyManifest(signedManifest({}, '2026-06-01T00:00:00Z'), NOW)).toMatchObject({ status: 'signed_expired', error: 'expired' })
    expect((await verifyPolicyManifest(signedManifest({}, null), NOW)).status).toBe('signed_valid')
  })

  it.each([
    ['unsupported_algorithm', (s: Record<string, unknown>) => { s.algorithm = 'RSA' }],
    ['malformed_public_key', (s: Record<string, unknown>) => { s.public_key = 'AAAA' }],
    ['malformed_signature', (s: Record<string, unknown>) => { s.signature = 'not base64!' }],
    ['malformed_expires_at', (s: Record<string, unknown>) => { s.expires_at = 'next tuesday' }],
  ])('names %s without echoing key material', async (error, mutate) => {
    const m = signedManifest()
    const sig = { ...(m.signature as Record<string, unknown>) }
    mutate(sig)
    const r = await verifyPolicyManifest({ ...m, signature: sig }, NOW)
    expect(r).toMatchObject({ status: 'signed_invalid', error })
    expect(JSON.stringify(r)).not.toContain(String(sig.signature))
  })
})
