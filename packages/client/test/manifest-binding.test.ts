/**
 * Policy-manifest binding of dispatch tickets (dir §3.1, §3.4; wire.md §1.6 `policy_manifest_sha256`). The
 * canonical form matches an independent canonicaliser on every vector (test/fixtures/policy-manifest-binding,
 * generated the way the official Python SDK canonicalises) and reproduces the bytes a real Ed25519 manifest
 * signature covers; key order never changes the hash. A route is accepted when its registered manifest hashes to
 * the claim, or when it carries the reference directory's projection whose `canonical_sha256` is the claim; a
 * tampered signed manifest, another manifest, or none at all is refused. Over real HTTP, a ticketed route whose
 * manifest does not match fails with IICP-POLICY-MANIFEST-BINDING-MISMATCH and the node receives nothing.
 */
import { createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, isIicpError, signDispatchTicket } from '@iicp/protocol'
import type { DispatchTicketClaims, IicpError, SigningKeyPair } from '@iicp/protocol'
import { IicpClient, canonicalPolicyManifest, policyManifestBinding, policyManifestSha256 } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeReply, FakeRequest } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

interface Vector {
  name: string
  manifest: Record<string, unknown>
  canonical: string
  sha256: string
}
const VECTORS = (JSON.parse(readFileSync(new URL('./fixtures/policy-manifest-binding/vectors.json', import.meta.url), 'utf8')) as { cases: Vector[] }).cases
const vector = (name: string): Vector => {
  const v = VECTORS.find((c) => c.name === name)
  if (!v) throw new Error(`missing vector ${name}`)
  return v
}

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'MANIFEST_BINDING_CANARY' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** What the reference directory echoes for a registered manifest (its policyManifest() projection). */
function projection(manifest: Record<string, unknown>, canonicalSha256: string): Record<string, unknown> {
  const retention = (manifest.retention ?? {}) as Record<string, unknown>
  return {
    version: manifest.version ?? null, jurisdiction: manifest.jurisdiction ?? null, policy_url: manifest.policy_url ?? null,
    contact_url: manifest.contact_url ?? null, remote_executor_can_read_prompt: manifest.remote_executor_can_read_prompt ?? true,
    training_use: manifest.training_use ?? 'provider_defined',
    retention: { task_payload: retention.task_payload ?? 'provider_defined', logs_days: retention.logs_days ?? null },
    subprocessors: manifest.subprocessors ?? [], unsupported_intents: manifest.unsupported_intents ?? [],
    signed_statement: manifest.signed_statement ?? null, manifest_identity_level: 'signed_valid', operator_fingerprint: null,
    policy_key_fingerprint: 'abcdef012345', revoked_at: null, rotation_epoch: null, revocation_reason_class: null,
    operator_governance: { known_operator: false, terms_status: 'missing', dpa_status: 'missing', evidence: 'none' },
    verification: { status: 'signed_valid', algorithm: 'Ed25519', key_id: 'test-key-1', signed_at: null, expires_at: null, canonical_sha256: canonicalSha256, public_key_sha256: null, error: null },
    evidence: 'signed_verified',
  }
}

describe('the canonical policy manifest', () => {
  it.each(VECTORS.map((v) => [v.name, v] as const))('matches the independent canonicaliser on %s', (_name, v) => {
    expect(canonicalPolicyManifest(v.manifest)).toBe(v.canonical)
    expect(policyManifestSha256(v.manifest)).toBe(v.sha256)
  })

  it('is exactly the byte string the manifest\'s Ed25519 signature covers (dir §3.1)', () => {
    const m = vector('signed_ed25519').manifest
    const sig = m.signature as { public_key: string; signature: string }
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(sig.public_key, 'base64').toString('base64url') }, format: 'jwk' })
    expect(verify(null, Buffer.from(canonicalPolicyManifest(m), 'utf8'), key, Buffer.from(sig.signature, 'base64'))).toBe(true)
    const tampered = { ...m, retention: { task_payload: 'transient', logs_days: 30 } }
    expect(verify(null, Buffer.from(canonicalPolicyManifest(tampered), 'utf8'), key, Buffer.from(sig.signature, 'base64'))).toBe(false)
  })

  it('does not depend on the order of keys, at any depth', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
      array: fc.array(tie('value'), { maxLength: 3 }),
      object: fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 4 }),
    }))
    const reversed = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(reversed)
      if (typeof v !== 'object' || v === null) return v
      return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)]))
    }
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 6 }), json.value, { maxKeys: 5 }), (m) => {
      expect(policyManifestSha256(reversed(m) as Record<string, unknown>)).toBe(policyManifestSha256(m))
    }), { numRuns: 200 })
  })

  it('keeps a __proto__ key from the wire in the hash instead of dropping it', () => {
    const withProto = JSON.parse('{"version":"1","__proto__":{"x":1}}') as Record<string, unknown>
    expect(canonicalPolicyManifest(withProto)).toBe('{"__proto__":{"x":1},"version":"1"}')
  })
})

describe('policyManifestBinding', () => {
  const signed = vector('signed_ed25519')
  const unsigned = vector('unsigned_dir_3_1_example')

  it('says unbound when the ticket carries no claim', () => {
    expect(policyManifestBinding(undefined, undefined)).toBe('unbound')
    expect(policyManifestBinding(undefined, signed.manifest)).toBe('unbound')
  })

  it('accepts the registered manifest, with or without the directory\'s echo fields beside it', () => {
    expect(policyManifestBinding(signed.sha256, signed.manifest)).toBe('recomputed')
    expect(policyManifestBinding(unsigned.sha256, unsigned.manifest)).toBe('recomputed')
    expect(policyManifestBinding(signed.sha256, { ...signed.manifest, verification: { canonical_sha256: signed.sha256 }, evidence: 'signed_verified' })).toBe('recomputed')
  })

  it('accepts the reference directory\'s projection when its canonical_sha256 is the claim', () => {
    expect(policyManifestBinding(signed.sha256, projection(signed.manifest, signed.sha256))).toBe('directory_verified')
  })

  it('refuses a projection of another manifest, a tampered signed manifest, and a route without a manifest', () => {
    expect(policyManifestBinding(signed.sha256, projection(unsigned.manifest, unsigned.sha256))).toBe('hash_mismatch')
    const tampered = { ...signed.manifest, retention: { task_payload: 'transient', logs_days: 30 }, verification: { canonical_sha256: signed.sha256 } }
    expect(policyManifestBinding(signed.sha256, tampered)).toBe('hash_mismatch')
    expect(policyManifestBinding(signed.sha256, { ...unsigned.manifest })).toBe('hash_mismatch')
    expect(policyManifestBinding(signed.sha256, undefined)).toBe('manifest_missing')
    expect(policyManifestBinding(signed.sha256, null)).toBe('manifest_missing')
  })
})

describe('ticketed routes with a bound policy manifest, over real HTTP', () => {
  async function setup(claim: string | undefined, routeManifest: unknown): Promise<{ node: TestNode; client: IicpClient }> {
    const node = await startTestNode({ nodeId: 'bound-node' })
    closers.push(() => node.close())
    const key: SigningKeyPair = await generateSigningKeyPair()
    const dir = await startFakeDirectory(async (req: FakeRequest, origin: string): Promise<FakeReply> => {
      if (req.url === '/api/v1/directory-key') return { status: 200, body: { public_key: key.publicKeyHex, algorithm: 'ed25519' } }
      if (req.url !== '/api/v1/dispatch/ticket') return { status: 404, body: { error: { code: 'not_found', message: 'Resource not found' } } }
      if (((req.body as { exclude_node_id_prefixes?: string[] }).exclude_node_id_prefixes ?? []).length > 0) {
        return { status: 404, body: { error: { code: 'no_route_available', message: 'none' } } }
      }
      const iat = Math.floor(Date.now() / 1000)
      const claims: DispatchTicketClaims = {
        v: 1, typ: 'dispatch-route-ticket', iss: origin, aud: 'iicp.directory.dispatch', jti: '0123456789abcdef01234567',
        node_id: node.nodeId, intent: CHAT, iat, exp: iat + 120, ...(claim === undefined ? {} : { policy_manifest_sha256: claim }),
      }
      const route: Record<string, unknown> = { node_id: node.nodeId, endpoint: node.url, score: 0.9, available: true }
      if (routeManifest !== undefined) route.node_policy_manifest = routeManifest
      return {
        status: 201,
        body: {
          ticket: await signDispatchTicket(claims, key), expires_at: iat + 120, intent: CHAT, node_id: node.nodeId, route,
          algorithm: 'ed25519', data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false,
        },
      }
    })
    closers.push(() => dir.close())
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, sleep: async () => {} })
    closers.push(() => client.close())
    return { node, client }
  }

  async function failure(p: Promise<unknown>): Promise<IicpError> {
    try {
      await p
    } catch (err) {
      expect(isIicpError(err)).toBe(true)
      return err as IicpError
    }
    throw new Error('expected a failure')
  }

  it('submits through a route whose manifest the ticket binds', async () => {
    const signed = vector('signed_ed25519')
    const { node, client } = await setup(signed.sha256, projection(signed.manifest, signed.sha256))
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.routeSource).toBe('ticket')
    expect(r.nodeId).toBe(node.nodeId)
    expect(node.requests).toHaveLength(1)
  })

  it('refuses a route carrying another manifest with IICP-POLICY-MANIFEST-BINDING-MISMATCH and sends the node nothing', async () => {
    const signed = vector('signed_ed25519')
    const other = vector('unsigned_dir_3_1_example')
    const { node, client } = await setup(signed.sha256, projection(other.manifest, other.sha256))
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-POLICY-MANIFEST-BINDING-MISMATCH')
    expect(err.status).toBe(502)
    expect(err.extra).toMatchObject({ reason: 'hash_mismatch' })
    expect(err.message).not.toContain(signed.sha256)
    expect(err.message).not.toContain('MANIFEST_BINDING_CANARY')
    expect(node.requests).toHaveLength(0)
  })

  it('refuses a route without a manifest when the ticket binds one', async () => {
    const { node, client } = await setup(vector('signed_ed25519').sha256, undefined)
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-POLICY-MANIFEST-BINDING-MISMATCH')
    expect(err.extra).toMatchObject({ reason: 'manifest_missing' })
    expect(node.requests).toHaveLength(0)
  })

  it('accepts any route when the ticket binds no manifest (directories that do not hash manifests)', async () => {
    const other = vector('unsigned_dir_3_1_example')
    const { node, client } = await setup(undefined, projection(other.manifest, other.sha256))
    expect((await client.submit(CHAT, PAYLOAD)).nodeId).toBe(node.nodeId)
  })
})
