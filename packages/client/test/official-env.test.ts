/**
 * What this proves, against the in-repo directory and a test node on loopback: the official SDKs' escape hatch
 * `IICP_PROXY_ALLOW_LOOPBACK_NODES` (official-sdks §1, §8 item 17) works through `clientOptionsFromEnv`: with it a
 * client built from the environment alone reaches a loopback directory and node and gets the node's answer; with
 * `0` (or unset) the same configuration is refused at construction; this SDK's own `IICP_ALLOW_PRIVATE_ENDPOINTS`
 * wins when both are set; a value that is not a boolean is an `invalid_config` naming the variable.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient, clientOptionsFromEnv } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

async function mesh(): Promise<Mesh> {
  const m = await startMesh([{ nodeId: 'loopback-node-1' }])
  closers.push(() => m.close())
  return m
}

function fromEnv(m: Mesh, env: Record<string, string>): IicpClient {
  const c = new IicpClient(clientOptionsFromEnv({
    IICP_DIRECTORY_URL: m.directoryUrl, IICP_CX_ALLOW_PLAINTEXT: '1', IICP_ROUTE_DISCOVERY_MODE: 'legacy', ...env,
  }))
  closers.push(() => c.close())
  return c
}

describe('IICP_PROXY_ALLOW_LOOPBACK_NODES', { timeout: 60_000 }, () => {
  it('lets a client from the environment use a loopback directory and node', async () => {
    const m = await mesh()
    const r = await fromEnv(m, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '1' }).submit(CHAT, { messages: [{ role: 'user', content: 'hi' }] })
    expect(r.nodeId).toBe('loopback-node-1')
    expect(m.nodes[0]?.requests).toHaveLength(1)
  })

  it('is off at 0 or unset, and IICP_ALLOW_PRIVATE_ENDPOINTS wins over it', async () => {
    const m = await mesh()
    for (const env of [{}, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '0' }, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '1', IICP_ALLOW_PRIVATE_ENDPOINTS: '0' }] as Array<Record<string, string>>) {
      expect(() => fromEnv(m, env)).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('allowPrivateEndpoints') }))
    }
    expect(clientOptionsFromEnv({ IICP_PROXY_ALLOW_LOOPBACK_NODES: 'yes' }).allowPrivateEndpoints).toBe(true)
    expect(clientOptionsFromEnv({ IICP_PROXY_ALLOW_LOOPBACK_NODES: '1', IICP_ALLOW_PRIVATE_ENDPOINTS: 'false' }).allowPrivateEndpoints).toBe(false)
    expect(m.nodes[0]?.requests).toHaveLength(0)
  })

  it('refuses a value that is not a boolean, naming the variable', () => {
    expect(() => clientOptionsFromEnv({ IICP_PROXY_ALLOW_LOOPBACK_NODES: 'loopback' }))
      .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_PROXY_ALLOW_LOOPBACK_NODES') }))
  })
})
