/**
 * The injectable `dispatcher` option: every request the client makes (directory and node alike) goes through the
 * undici Dispatcher the caller gave, and `client.close()` leaves that dispatcher open for its owner, who can keep
 * using it. Proven with a counting undici Agent against a real fake directory and test node on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { IicpClient } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** A real keep-alive Agent that records the origin and path of every request dispatched through it. */
class CountingAgent extends Agent {
  readonly seen: string[] = []

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.seen.push(`${options.method} ${String(options.origin)}${options.path.split('?')[0] ?? ''}`)
    return super.dispatch(options, handler)
  }
}

describe('an injected dispatcher', () => {
  it('carries every directory and node request of submit()', async () => {
    const node = await startTestNode()
    closers.push(() => node.close())
    const dir = await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 404, body: { error: { code: 'not_found', message: 'x' } } })
    closers.push(() => dir.close())
    const agent = new CountingAgent()
    closers.push(() => agent.close())
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', dispatcher: agent })
    closers.push(() => client.close())

    await client.submit(CHAT, PAYLOAD)
    await client.submit(CHAT, PAYLOAD)

    expect(agent.seen).toEqual([
      `GET ${dir.origin}/api/v1/discover`,
      `POST ${node.url}/v1/task`,
      // The route list is cached, so the second task is one POST.
      `POST ${node.url}/v1/task`,
    ])
    expect(dir.requests).toHaveLength(1)
    expect(node.requests).toHaveLength(2)
  })

  it('is left open by client.close(), and its owner can go on using it', async () => {
    const node = await startTestNode()
    closers.push(() => node.close())
    const dir = await startFakeDirectory(() => ({ status: 200, body: { nodes: [node.summary()], count: 1 } }))
    closers.push(() => dir.close())
    const agent = new CountingAgent()
    closers.push(() => agent.close())
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', dispatcher: agent })
    await client.submit(CHAT, PAYLOAD)

    await client.close()

    expect(agent.closed).toBe(false)
    expect(agent.destroyed).toBe(false)
    const after = await request(`${dir.apiUrl}/v1/discover?intent=${encodeURIComponent(CHAT)}`, { dispatcher: agent })
    expect(after.statusCode).toBe(200)
    await after.body.dump()
    expect(agent.seen.at(-1)).toBe(`GET ${dir.origin}/api/v1/discover`)
  })
})
