/**
 * Consumer tokens end to end (dir §3.12; wire.md §1.8): the real directory issues a token to an IicpClient that
 * holds its own node's token, and a real IicpNode in `auth: "token"` mode, which never saw that caller, verifies
 * it with the directory key and serves the task. The same client without a consumer token is refused with 401,
 * so the token is what authorised the call; and the caller's node token never reaches the serving node.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import { IicpClient } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startNode(apiUrl: string, timers: ManualTimers, extra: Partial<NodeOptions>): Promise<IicpNode> {
  const node = new IicpNode({ directoryUrl: apiUrl, persistState: false, host: '127.0.0.1', port: 0, backend: echo(), timers, ...extra } as NodeOptions)
  cleanup.push(() => node.close())
  await node.serve()
  return node
}

describe('a consumer token issued by the directory', () => {
  it('is verified by a token-mode node, which serves the task; without it the same caller gets 401', async () => {
    const timers = new ManualTimers()
    // One clock for directory, nodes and client, so issue and expiry agree.
    const d = await directory({ clock: () => timers.now() })
    cleanup.push(() => d.close())
    const target = await startNode(d.apiUrl, timers, { auth: 'token' })
    // The caller serves another intent, so chat discovery lists only the target.
    const caller = await startNode(d.apiUrl, timers, { backend: { ...echo(), intents: ['urn:iicp:intent:llm:embedding:v1'] } })
    // The caller's token, as its operator would configure it for the consumer side; there is no public getter.
    const callerToken = (caller as unknown as { identity: { nodeToken: string } }).identity.nodeToken
    expect(callerToken).toMatch(/^[0-9a-f]{64}$/)

    const base: ClientConfig = { directoryUrl: d.apiUrl, allowPrivateEndpoints: true, routeDiscovery: 'legacy', selection: 'deterministic', nodeToken: callerToken, clock: () => timers.now() }
    const client = new IicpClient({ ...base, consumerAuthMode: 'required' })
    cleanup.push(() => client.close())
    const r = await client.submit(CHAT, { messages: [{ role: 'user', content: 'through a consumer token' }] })
    expect(r.nodeId).toBe(target.nodeId)
    expect(r.receipt.consumer_auth).toBe('consumer_token')
    expect(r.status).toBe('success')

    const plain = new IicpClient({ ...base, consumerAuthMode: 'disabled' })
    cleanup.push(() => plain.close())
    let code: string | undefined
    try {
      await plain.submit(CHAT, { messages: [{ role: 'user', content: 'no token' }] })
    } catch (err) {
      expect(isIicpError(err)).toBe(true)
      code = (err as { code: string }).code
    }
    expect(code).toBe('unauthorized')
  })
})
