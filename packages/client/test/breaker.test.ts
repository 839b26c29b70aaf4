/**
 * The circuit breaker seen through submit() against a real node: five failures open it (the sixth submit sends
 * nothing), after 30 s on the injected clock one half-open probe goes through, and its success closes it again.
 * (selection.test.ts shows that nodes with open breakers are skipped in favour of healthy ones.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return (err as IicpError).code
  }
  return 'success'
}

async function node(fallback?: 'fail'): Promise<TestNode> {
  const n = await startTestNode(fallback ? { fallback: { kind: 'status', status: 503 } } : {})
  cleanups.push(() => n.close())
  return n
}

describe('circuit breaker through submit()', () => {
  it('opens after 5 failures, stops sending, half-opens after 30 s and closes on a successful probe', async () => {
    const n = await node('fail')
    let now = 0
    const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, maxAttempts: 1, clock: () => now, sleep: async () => {} })
    cleanups.push(() => client.close())
    for (let i = 0; i < 5; i++) expect(await code(client.submit(CHAT, {}, { node: n.summary() }))).toBe('no_available_node')
    expect(n.requests).toHaveLength(5)
    expect(await code(client.submit(CHAT, {}, { node: n.summary() }))).toBe('no_available_node')
    expect(n.requests).toHaveLength(5)
    now += 30_000
    n.push({ kind: 'ok' })
    expect(await code(client.submit(CHAT, {}, { node: n.summary() }))).toBe('success')
    expect(n.requests).toHaveLength(6)
    n.push({ kind: 'ok' })
    expect(await code(client.submit(CHAT, {}, { node: n.summary() }))).toBe('success')
  })

  it('reopens when the half-open probe fails', async () => {
    const n = await node('fail')
    let now = 0
    const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, maxAttempts: 1, clock: () => now, sleep: async () => {} })
    cleanups.push(() => client.close())
    for (let i = 0; i < 5; i++) await code(client.submit(CHAT, {}, { node: n.summary() }))
    now += 30_000
    await code(client.submit(CHAT, {}, { node: n.summary() }))
    expect(n.requests).toHaveLength(6)
    await code(client.submit(CHAT, {}, { node: n.summary() }))
    expect(n.requests).toHaveLength(6)
  })
})
