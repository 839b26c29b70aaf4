/**
 * Signed policy manifests end to end (dir §3.1, §3.4, §3.4.1; wire.md §1.2, §1.6): a real IicpNode with a CX key is
 * registered at the in-repo directory with an Ed25519-signed manifest; the directory verifies it, echoes it with
 * `verification.status: signed_valid` and binds its canonical hash into the dispatch ticket; a real IicpClient on the
 * ticket path then lets it through the `sensitive` and `strict_policy` profiles and the node serves the task. Before
 * the manifest, both profiles refuse that same node; a tampered manifest never gets past REGISTER.
 *
 * IicpNode has no manifest option yet, so the test re-registers the node's own route with its own current token and
 * CX key plus the manifest, as a node SDK would send it. Timers are manual so no heartbeat runs meanwhile.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { canonicalPolicyManifest, isIicpError } from '@iicp/protocol'
import { IicpClient } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { call } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function signedManifest(): Record<string, unknown> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const m: Record<string, unknown> = {
    version: '2026-11-01', jurisdiction: 'DE', remote_executor_can_read_prompt: false, training_use: 'none',
    retention: { task_payload: 'none', logs_days: 0 }, subprocessors: [], unsupported_intents: [],
    signature: {
      algorithm: 'Ed25519', key_id: 'op-1', public_key: Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString('base64'),
      signed_at: '2026-11-01T00:00:00Z', expires_at: '2099-01-01T00:00:00Z',
    },
  }
  ;(m.signature as Record<string, unknown>).signature = sign(null, Buffer.from(canonicalPolicyManifest(m), 'utf8'), privateKey).toString('base64')
  return m
}

async function refusal(client: IicpClient): Promise<string | undefined> {
  try {
    await client.submit(CHAT, { messages: [{ role: 'user', content: 'must not leave' }] })
  } catch (err) {
    return isIicpError(err) ? err.code : String(err)
  }
  return undefined
}

describe('a signed policy manifest through our directory', () => {
  it('lets sensitive and strict_policy clients use the node through the ticket path; unsigned they refuse it', { timeout: 60_000 }, async () => {
    const timers = new ManualTimers()
    const d = await directory({ clock: () => timers.now() })
    cleanup.push(() => d.close())
    const node = new IicpNode({ directoryUrl: d.apiUrl, persistState: false, host: '127.0.0.1', port: 0, backend: echo(), timers } as NodeOptions)
    cleanup.push(() => node.close())
    await node.serve()

    const base: ClientConfig = { directoryUrl: d.apiUrl, allowPrivateEndpoints: true, routeDiscovery: 'ticketed', selection: 'deterministic', clock: () => timers.now() }
    const client = (routingPolicy: ClientConfig['routingPolicy']): IicpClient => {
      const c = new IicpClient({ ...base, routingPolicy })
      cleanup.push(() => c.close())
      return c
    }
    const sensitive = { profile: 'sensitive', allowRemoteExecutor: true } as ClientConfig['routingPolicy']
    expect(await refusal(client(sensitive))).toBe('IICP-POLICY-ROUTING')
    expect(await refusal(client('strict_policy'))).toBe('IICP-POLICY-ROUTING')

    const listed = await call(`${d.apiUrl}/v1/node/${encodeURIComponent(node.nodeId ?? '')}`)
    const current = listed.json as Record<string, unknown>
    const token = (node as unknown as { identity: { nodeToken: string } }).identity.nodeToken
    const body = {
      node_id: node.nodeId, current_node_token: token, endpoint: current.endpoint, region: current.region,
      capabilities: current.capabilities, limits: { max_concurrent: current.max_concurrent }, cx_public_key: current.cx_public_key,
    }
    const tampered = { ...signedManifest(), jurisdiction: 'US' }
    const refused = await call(`${d.apiUrl}/v1/register`, { method: 'POST', body: { ...body, policy_manifest: tampered } })
    expect(refused.status).toBe(422)
    const reg = await call(`${d.apiUrl}/v1/register`, { method: 'POST', body: { ...body, policy_manifest: signedManifest() } })
    expect(reg.status).toBe(201)

    for (const policy of [sensitive, 'strict_policy'] as const) {
      const r = await client(policy).submit(CHAT, { messages: [{ role: 'user', content: `through ${typeof policy === 'string' ? policy : 'sensitive'}` }] })
      expect(r.status).toBe('success')
      expect(r.nodeId).toBe(node.nodeId)
    }
  })
})
