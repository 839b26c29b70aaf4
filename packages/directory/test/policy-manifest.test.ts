/**
 * Policy manifests at the directory (dir §3.1, §3.4; wire.md §1.2, §1.5, §1.6): a signed manifest is verified at
 * REGISTER (a tampered or expired one is refused before the liveness probe), stored, echoed in discover, node detail
 * and the ticket route as `node_policy_manifest` with `verification`, and bound into dispatch tickets as
 * `policy_manifest_sha256` over the canonical form @iicp/protocol shares with the client. A node without one reads
 * `node_policy_manifest: null`, as from the PHP directory.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { canonicalPolicyManifest, verifyDispatchTicket } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const DISCOVER = `/api/v1/discover?intent=${encodeURIComponent(CHAT)}`

/** A manifest signed over its canonical form, as a node SDK signs it (dir §3.1). */
function signedManifest(privateKey: KeyObject, publicKey: KeyObject, expiresAt: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const m: Record<string, unknown> = {
    version: '2026-11-01', jurisdiction: 'DE', remote_executor_can_read_prompt: false, training_use: 'none',
    retention: { task_payload: 'none', logs_days: 0 }, subprocessors: [], unsupported_intents: [],
    ...extra,
    signature: { algorithm: 'Ed25519', key_id: 'op-key-1', public_key: raw.toString('base64'), signed_at: '2026-11-01T00:00:00Z', expires_at: expiresAt },
  }
  ;(m.signature as Record<string, unknown>).signature = sign(null, Buffer.from(canonicalPolicyManifest(m), 'utf8'), privateKey).toString('base64')
  return m
}

describe('policy manifests', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  const clock = manualClock()
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  async function directory(): Promise<RunningDirectory> {
    const d = await startDirectory({ port: 0, pruneIntervalMs: 0, clock: clock.now })
    open.push(d)
    return d
  }
  async function node(): Promise<Awaited<ReturnType<typeof startHealthServer>>> {
    const s = await startHealthServer()
    open.push(s)
    return s
  }

  it('verifies, stores, echoes and binds a signed manifest into dispatch tickets', async () => {
    const dir = await directory()
    const n = await node()
    const manifest = signedManifest(privateKey, publicKey, '2030-01-01T00:00:00Z')
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: manifest }) })
    expect(reg.status).toBe(201)
    const sha = createHash('sha256').update(canonicalPolicyManifest(manifest), 'utf8').digest('hex')
    const rawKey = Buffer.from((manifest.signature as { public_key: string }).public_key, 'base64')
    const expected = {
      ...manifest,
      verification: {
        status: 'signed_valid', algorithm: 'Ed25519', key_id: 'op-key-1', signed_at: '2026-11-01T00:00:00Z', expires_at: '2030-01-01T00:00:00Z',
        canonical_sha256: sha, public_key_sha256: createHash('sha256').update(rawKey).digest('hex'), error: null,
      },
      evidence: 'signed_verified',
      manifest_identity_level: 'signed_valid',
    }
    const found = await call(dir.url, 'GET', DISCOVER)
    expect((found.json.nodes as Array<Record<string, unknown>>)[0]?.node_policy_manifest).toEqual(expected)
    const detail = await call(dir.url, 'GET', `/api/v1/node/${reg.json.node_id as string}`)
    expect(detail.json.node_policy_manifest).toEqual(expected)

    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT } })
    expect(t.status).toBe(201)
    expect((t.json.route as Record<string, unknown>).node_policy_manifest).toEqual(expected)
    const verified = await verifyDispatchTicket(t.json.ticket as string, {
      publicKeyHex: dir.publicKeyHex, issuer: dir.url, audience: 'iicp.directory.dispatch', nodeId: reg.json.node_id as string, intent: CHAT,
      nowSeconds: Math.floor(clock.now() / 1000),
    })
    expect(verified.ok && verified.claims.policy_manifest_sha256).toBe(sha)
  })

  it('keeps an unsigned manifest as self-attested and binds its hash too', async () => {
    const dir = await directory()
    const n = await node()
    const manifest = { version: '1', jurisdiction: 'FR', retention: { task_payload: 'transient', logs_days: 3 } }
    expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: manifest }) })).status).toBe(201)
    const echoed = (await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>
    expect(echoed[0]?.node_policy_manifest).toMatchObject({
      ...manifest, evidence: 'self_attested', manifest_identity_level: 'self_attested',
      verification: { status: 'self_attested', public_key_sha256: null, error: null, canonical_sha256: createHash('sha256').update(canonicalPolicyManifest(manifest)).digest('hex') },
    })
  })

  it('sends node_policy_manifest: null and no ticket binding for a node without a manifest', async () => {
    const dir = await directory()
    const n = await node()
    expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url) })).status).toBe(201)
    const nodes = (await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>
    expect(nodes[0]).toHaveProperty('node_policy_manifest', null)
    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT } })
    const claims = JSON.parse(Buffer.from((t.json.ticket as string).split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
    expect(claims).not.toHaveProperty('policy_manifest_sha256')
  })

  it('refuses a manifest changed after signing with 422 before probing the endpoint', async () => {
    const dir = await directory()
    const n = await node()
    const tampered: Record<string, unknown> = { ...signedManifest(privateKey, publicKey, '2030-01-01T00:00:00Z'), retention: { task_payload: 'provider_defined', logs_days: 365 } }
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: tampered }) })
    expect(r.status).toBe(422)
    expect(errorOf(r)).toMatchObject({ code: 'validation_error', fields: { 'policy_manifest.signature': ['signed_invalid: signature_mismatch'] } })
    expect(r.text).not.toContain((tampered.signature as { signature: string }).signature)
    expect(n.hits()).toBe(0)
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(0)
  })

  it('refuses a manifest whose signature expired, and reports one that expires later as signed_expired', async () => {
    const dir = await directory()
    const n = await node()
    const past = new Date(clock.now() - 1000).toISOString()
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: signedManifest(privateKey, publicKey, past) }) })
    expect(r.status).toBe(422)
    expect(errorOf(r).fields?.['policy_manifest.signature']?.[0]).toMatch(/^signed_expired/)

    const soon = new Date(clock.now() + 60_000).toISOString()
    const ok = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: signedManifest(privateKey, publicKey, soon) }) })
    expect(ok.status).toBe(201)
    clock.advance(61_000)
    // A heartbeat rebuilds the node's views, as every live node's are rebuilt each interval.
    expect((await call(dir.url, 'POST', '/api/v1/heartbeat', { token: ok.json.node_token as string, body: { node_id: ok.json.node_id } })).status).toBe(200)
    const nodes = (await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>
    expect(nodes[0]?.node_policy_manifest).toMatchObject({ evidence: 'signed_expired', manifest_identity_level: 'self_attested', verification: { status: 'signed_expired', error: 'expired' } })
  })

  it('refuses a manifest that claims the directory\'s own verdict, and one that breaks the schema', async () => {
    const dir = await directory()
    const n = await node()
    const claimed = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: { version: '1', evidence: 'signed_verified' } }) })
    expect(claimed.status).toBe(422)
    expect(errorOf(claimed).fields).toHaveProperty(['policy_manifest.evidence'])
    const bad = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(n.url, { policy_manifest: { training_use: 'sometimes' } }) })
    expect(bad.status).toBe(422)
    expect(Object.keys(errorOf(bad).fields ?? {}).some((k) => k.startsWith('policy_manifest'))).toBe(true)
    expect(n.hits()).toBe(0)
  })
})
