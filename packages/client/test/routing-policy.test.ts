/**
 * Routing policy profiles (dir §3.4.1; wire.md §1.5): each profile's verdict on directory metadata (CX key,
 * region, signed manifest, retention, operator binding), the config forms, and over a real directory and real
 * nodes: a profile that refuses every candidate fails with IICP-POLICY-ROUTING and the nodes receive nothing,
 * while a region profile sends only to the allowed region. The receipt names the policy.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError, NodeSummary } from '@iicp/protocol'
import { IicpClient, applyRoutingPolicy, clientOptionsFromEnv, parseClientOptions, parseRoutingPolicy, policyRefusal } from '../src/index.js'
import type { ClientConfig, RoutingPolicy } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const SECRET = 'route-policy-secret-prompt-4411'
const PAYLOAD = { messages: [{ role: 'user', content: SECRET }] }
const KEY = { algorithm: 'X25519', encoding: 'base64url', key: 'k', key_id: 'cx-1' }

function node(id: string, extra: Record<string, unknown> = {}): NodeSummary {
  return { node_id: id, endpoint: `https://${id}.example.com`, score: 0.5, available: true, region: 'eu-central', cx_public_key: KEY, ...extra } as NodeSummary
}
const signed = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  jurisdiction: 'DE', retention: { task_payload: 'none' }, verification: { status: 'signed_valid' }, ...extra,
})
const refusal = (n: NodeSummary, p: RoutingPolicy | string): string | undefined => policyRefusal(n, parseRoutingPolicy(p))

describe('profile verdicts', () => {
  it('standard and debug_override refuse nothing; only debug_override lets keyless nodes through selection', () => {
    const keyless = node('a', { cx_public_key: null })
    expect(applyRoutingPolicy([keyless], parseRoutingPolicy('standard'))).toEqual({ allowed: [keyless], refused: [], allowPlaintext: false })
    expect(applyRoutingPolicy([keyless], parseRoutingPolicy('debug_override'))).toEqual({ allowed: [keyless], refused: [], allowPlaintext: true })
  })

  it('sensitive fails closed for every remote executor unless allowed, and then needs a signed "cannot read prompt" manifest', () => {
    expect(refusal(node('a', { node_policy_manifest: signed({ remote_executor_can_read_prompt: false }) }), 'sensitive')).toBe('remote_executor')
    const p = { profile: 'sensitive', allowRemoteExecutor: true } as const
    expect(refusal(node('a', { node_policy_manifest: signed({ remote_executor_can_read_prompt: false }) }), p)).toBeUndefined()
    expect(refusal(node('a', { node_policy_manifest: signed() }), p)).toBe('remote_executor')
    expect(refusal(node('a', { node_policy_manifest: { remote_executor_can_read_prompt: false } }), p)).toBe('manifest_unsigned')
  })

  it('eu_restricted keeps key-ready eu-* nodes, or the caller\'s own allowlist', () => {
    expect(refusal(node('a'), 'eu_restricted')).toBeUndefined()
    expect(refusal(node('a', { region: 'us-west' }), 'eu_restricted')).toBe('region_not_allowed')
    expect(refusal(node('a', { region: null }), 'eu_restricted')).toBe('region_not_allowed')
    expect(refusal(node('a', { cx_public_key: null }), 'eu_restricted')).toBe('not_key_ready')
    expect(refusal(node('a', { region: 'ch-zurich' }), { profile: 'eu_restricted', allowedRegions: ['ch-zurich'] })).toBeUndefined()
  })

  it('allowed_regions_strict needs its region list, and with requireSignedPolicyManifest a signed manifest in an allowed jurisdiction', () => {
    const p: RoutingPolicy = { profile: 'allowed_regions_strict', allowedRegions: ['eu-central'], requireSignedPolicyManifest: true, jurisdictionAllowlist: ['DE'] }
    expect(refusal(node('a', { node_policy_manifest: signed() }), p)).toBeUndefined()
    expect(refusal(node('a', { node_policy_manifest: signed({ jurisdiction: 'US' }) }), p)).toBe('jurisdiction_not_allowed')
    expect(refusal(node('a', { node_policy_manifest: { jurisdiction: 'DE' } }), p)).toBe('manifest_unsigned')
    expect(refusal(node('a', { region: 'eu-west' }), p)).toBe('region_not_allowed')
  })

  it('strict_policy needs a key, a signed-valid manifest and an explicit no-retention declaration', () => {
    expect(refusal(node('a', { node_policy_manifest: signed() }), 'strict_policy')).toBeUndefined()
    expect(refusal(node('a', { node_policy_manifest: signed({ retention: { task_payload: 'provider_defined' } }) }), 'strict_policy')).toBe('manifest_retains_payload')
    expect(refusal(node('a', { node_policy_manifest: signed({ retention: undefined }) }), 'strict_policy')).toBe('manifest_retains_payload')
    expect(refusal(node('a', { node_policy_manifest: signed({ verification: { status: 'signed_invalid' } }) }), 'strict_policy')).toBe('manifest_unsigned')
    expect(refusal(node('a'), 'strict_policy')).toBe('manifest_unsigned')
    expect(refusal(node('a', { cx_public_key: null, node_policy_manifest: signed() }), 'strict_policy')).toBe('not_key_ready')
  })

  it('operator_bound_policy needs manifest_identity_level operator_bound', () => {
    expect(refusal(node('a', { node_policy_manifest: { manifest_identity_level: 'operator_bound' } }), 'operator_bound_policy')).toBeUndefined()
    expect(refusal(node('a', { node_policy_manifest: { manifest_identity_level: 'signed_valid' } }), 'operator_bound_policy')).toBe('not_operator_bound')
  })

  it('parses names and objects and refuses malformed policies with invalid_config', () => {
    expect(parseClientOptions({ routingPolicy: 'eu_restricted' }).routingPolicy).toEqual({ profile: 'eu_restricted' })
    expect(clientOptionsFromEnv({ IICP_ROUTING_POLICY: 'strict-policy' })).toEqual({ routingPolicy: 'strict_policy' })
    for (const bad of ['paranoid', { profile: 'allowed_regions_strict' }, { profile: 'eu_restricted', allowedRegions: [] }, { profile: 'eu_restricted', requireSignedPolicyManifest: true }, 7]) {
      expect(() => parseClientOptions({ routingPolicy: bad as never })).toThrowError(expect.objectContaining({ code: 'invalid_config', fields: { routingPolicy: [expect.any(String)] } }))
    }
  })
})

describe('over a real directory and real nodes', () => {
  let mesh: Mesh | undefined
  const clients: IicpClient[] = []
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close()
    await mesh?.close()
    mesh = undefined
  })

  function client(m: Mesh, extra: ClientConfig): IicpClient {
    const c = new IicpClient({ directoryUrl: m.directoryUrl, allowPrivateEndpoints: true, selection: 'deterministic', ...extra })
    clients.push(c)
    return c
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

  it('fails with IICP-POLICY-ROUTING when every candidate is refused, and no node receives anything', async () => {
    mesh = await startMesh([{ nodeId: 'us-1', region: 'us-west', cx: true }, { nodeId: 'us-2', region: 'us-east', cx: true }])
    for (const routeDiscovery of ['legacy', 'auto'] as const) {
      const err = await failure(client(mesh, { routingPolicy: 'eu_restricted', routeDiscovery }).submit(CHAT, PAYLOAD))
      expect(err.code).toBe('IICP-POLICY-ROUTING')
      expect(err.status).toBe(403)
      expect(err.extra).toEqual({ routing_policy: 'eu_restricted', refused_candidate_count: 2, reasons: ['region_not_allowed'] })
      expect(err.message).not.toContain(SECRET)
    }
    const sensitive = await failure(client(mesh, { routingPolicy: 'sensitive' }).submit(CHAT, PAYLOAD))
    expect(sensitive.code).toBe('IICP-POLICY-ROUTING')
    expect(mesh.nodes.map((n) => n.requests.length)).toEqual([0, 0])
  })

  it('sends only to the allowed region, and the receipt names the policy and the eligible count', async () => {
    mesh = await startMesh([{ nodeId: 'us-node-1', region: 'us-west', cx: true }, { nodeId: 'eu-node-1', region: 'eu-central', cx: true }])
    const c = client(mesh, { routingPolicy: { profile: 'allowed_regions_strict', allowedRegions: ['eu-central'] }, routeDiscovery: 'legacy' })
    for (let i = 0; i < 3; i++) {
      const r = await c.submit(CHAT, PAYLOAD)
      expect(r.nodeId).toBe('eu-node-1')
      expect(r.receipt).toMatchObject({ routing_policy: 'allowed_regions_strict', eligible_candidate_count: 1, refused_candidate_count: 1, selected_region: 'eu-central' })
    }
    expect(mesh.nodes.map((n) => n.requests.length)).toEqual([0, 3])
  })

  it('standard refuses keyless nodes (IICP-CX-REQUIRED, nothing sent) and debug_override lets them through', async () => {
    mesh = await startMesh([{ nodeId: 'keyless-1' }])
    expect((await failure(client(mesh, {}).submit(CHAT, PAYLOAD))).code).toBe('IICP-CX-REQUIRED')
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
    const r = await client(mesh, { routingPolicy: 'debug_override' }).submit(CHAT, PAYLOAD)
    expect(r.receipt.routing_policy).toBe('debug_override')
    expect(r.encrypted).toBe(false)
    expect(mesh.nodes[0]?.requests).toHaveLength(1)
  })
})
