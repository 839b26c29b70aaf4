/**
 * What this proves, on loopback with the real directory, two real nodes and the real client, every task over the
 * native transport: a node that answers 503 is failed over to the other node (attempts = 2, the answer from the
 * second node, both reached over native), and a 3 s deadline ends the call with `timeout` while the node's
 * handler is still holding the task, after which the client closes the session so the node aborts the task.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import { IicpError, isIicpError } from '@iicp/protocol'
import { IicpNode } from '../src/index.js'
import type { TaskHandler } from '../src/index.js'
import { directory } from './support/directory.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
/** A ceiling for state that follows a socket event, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

const chatResult = (content: string) => ({ choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] })
const ask = { messages: [{ role: 'user', content: 'hi' }] }

async function startNode(dirUrl: string, handler: TaskHandler): Promise<IicpNode> {
  const node = new IicpNode({
    directoryUrl: dirUrl, persistState: false, host: '127.0.0.1', port: 0, handler, cx: false,
    capabilities: [{ intent: CHAT, models: ['m1'] }], deregisterOnClose: false,
  })
  closers.push(() => node.close())
  await node.serve()
  await expect.poll(() => node.isRegistered, EVENTUALLY).toBe(true)
  return node
}

function client(dirUrl: string, maxAttempts = 3): IicpClient {
  const c = new IicpClient({ directoryUrl: dirUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', transport: 'native', retryBaseDelayMs: 1, maxAttempts })
  closers.push(() => c.close())
  return c
}

describe('retries over the native transport', () => {
  it('fails a 503 over to the other node: attempts = 2, both nodes reached over native', async () => {
    const dir = await directory()
    closers.push(() => dir.close())
    // Whichever node the client tries first refuses with 503; the one tried second answers.
    const served: string[] = []
    const handlerFor = (name: string): TaskHandler => () => {
      served.push(name)
      if (served.length === 1) throw new IicpError('service_unavailable', 'busy, try another node', { status: 503 })
      return chatResult(`from ${name}`)
    }
    const a = await startNode(dir.apiUrl, handlerFor('a'))
    const b = await startNode(dir.apiUrl, handlerFor('b'))
    const byName = { a, b }

    const r = await client(dir.apiUrl).submit(CHAT, ask)

    expect(served).toHaveLength(2)
    const [first, second] = served as ['a' | 'b', 'a' | 'b']
    expect(first).not.toBe(second)
    expect(r).toMatchObject({ attempts: 2, transport: 'native', nodeId: byName[second].nodeId, result: { choices: [{ message: { content: `from ${second}` } }] } })
    // The refusing node was reached over its native session too, not over HTTP.
    expect(byName[first].nativeSessions).toBe(1)
    expect(byName[second].nativeSessions).toBe(1)
  })

  it('gives up with the node errors when every node answers 503, each attempt over native', async () => {
    const dir = await directory()
    closers.push(() => dir.close())
    const refuse: TaskHandler = () => { throw new IicpError('service_unavailable', 'busy', { status: 503 }) }
    const a = await startNode(dir.apiUrl, refuse)
    const b = await startNode(dir.apiUrl, refuse)

    const err = await client(dir.apiUrl, 2).submit(CHAT, ask).catch((e: unknown) => e)

    expect(isIicpError(err)).toBe(true)
    const attempts = (err as IicpError).extra?.attempts as Array<{ nodeId: string; code: string; status: number }>
    expect(attempts.map((x) => x.status)).toEqual([503, 503])
    expect(new Set(attempts.map((x) => x.nodeId))).toEqual(new Set([a.nodeId, b.nodeId]))
    expect([a.nativeSessions, b.nativeSessions]).toEqual([1, 1])
  })
})

describe('the deadline over the native transport', () => {
  it('ends a 3 s call with timeout while the node still holds the task, then closes the session so the node aborts it', async () => {
    const dir = await directory()
    closers.push(() => dir.close())
    let entered!: () => void
    const inHandler = new Promise<void>((resolve) => { entered = resolve })
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    closers.push(async () => release())
    let signalAborted!: () => void
    const aborted = new Promise<void>((resolve) => { signalAborted = resolve })
    const node = await startNode(dir.apiUrl, async (_task, ctx) => {
      ctx.signal.addEventListener('abort', () => signalAborted(), { once: true })
      entered()
      // Answers only when the test says so, which it does after the assertions.
      await released
      return chatResult('too late')
    })

    // The deadline must expire, but only after discovery and the native CALL reached the handler, so it is seconds.
    const pending = client(dir.apiUrl).submit(CHAT, ask, { timeoutMs: 3_000 }).catch((e: unknown) => e)
    await inHandler
    const err = await pending

    expect(isIicpError(err) && err.code).toBe('timeout')
    expect((err as IicpError).extra?.attempts).toEqual([expect.objectContaining({ nodeId: node.nodeId, code: 'timeout' })])
    // The node never answered; the client's deadline ended the call, and the closed session aborts the node's task.
    await aborted
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)
  })
})
