/**
 * What this proves, end to end on loopback: a consumer (IicpClient) finds a node (IicpNode) through the real
 * directory and runs tasks over the node's advertised native transport_endpoint, IICP-CX encrypted, with the same
 * result shape as HTTP; chatStream() receives a streaming handler's chunks one by one (each before the handler
 * produces the next); an HTTP-only route yields one chunk; `auto` falls back to HTTP when the native port is gone
 * and `native` does not; and node errors surface as the same IicpError codes as over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { IicpError, isIicpError } from '@iicp/protocol'
import type { NodeSummary } from '@iicp/protocol'
import { IicpNode } from '../src/index.js'
import type { NodeOptions, TaskHandler } from '../src/index.js'
import { directory } from './support/directory.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
/** A ceiling for state that follows real socket I/O, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => { open = resolve })
  return { wait, open }
}

const chatResult = (content: string) => ({ object: 'chat.completion', model: 'm1', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { total_tokens: 2 } })

async function mesh(handler: TaskHandler, nodeOpts: Partial<NodeOptions> = {}, clientOpts: ClientConfig = {}): Promise<{ node: IicpNode; client: IicpClient }> {
  const dir = await directory()
  closers.push(() => dir.close())
  const node = new IicpNode({
    directoryUrl: dir.apiUrl, persistState: false, host: '127.0.0.1', port: 0, handler,
    capabilities: [{ intent: CHAT, models: ['m1'] }], deregisterOnClose: false, ...nodeOpts,
  } as NodeOptions)
  closers.push(() => node.close())
  await node.serve()
  await expect.poll(() => node.isRegistered, EVENTUALLY).toBe(true)
  const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, routeDiscovery: 'legacy', transport: 'auto', ...clientOpts })
  closers.push(() => client.close())
  return { node, client }
}

describe('consumer → node over the native transport', () => {
  it('runs submit() and chat() over iicp:// with IICP-CX, reporting transport native', async () => {
    let encrypted: boolean | undefined
    const { node, client } = await mesh((task, ctx) => {
      encrypted = ctx.encrypted
      return chatResult(`echo: ${(task.payload as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''}`)
    })
    const r = await client.submit(CHAT, { messages: [{ role: 'user', content: 'over native' }] })
    expect(r).toMatchObject({ transport: 'native', nodeId: node.nodeId, encrypted: true, result: { choices: [{ message: { content: 'echo: over native' } }] } })
    expect(encrypted).toBe(true)
    expect(node.nativeSessions).toBe(1)
    const c = await client.chat([{ role: 'user', content: 'again' }])
    expect(c.choices[0]?.message.content).toBe('echo: again')
    // Pooled: the second task reused the session; closing the client ends it with a CLOSE frame.
    expect(node.nativeSessions).toBe(1)
    await client.close()
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)
  })

  it('uses HTTP when the client transport is http (the client default)', async () => {
    const { client } = await mesh(() => chatResult('x'), {}, { transport: 'http' })
    const r = await client.submit(CHAT, { messages: [{ role: 'user', content: 'hi' }] })
    expect(r.transport).toBe('http')
  })

  it('surfaces node errors over native with the same codes as HTTP', async () => {
    const { client } = await mesh(() => { throw new IicpError('validation_error', 'bad input', { status: 422 }) }, { cx: false }, { allowPlaintext: true, maxAttempts: 1 })
    const err = await client.submit(CHAT, { messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('validation_error')
    expect((err as IicpError).status).toBe(422)
  })
})

describe('chatStream()', () => {
  it('delivers a streaming handler chunk by chunk: each chunk reaches the consumer before the next is produced', async () => {
    const gates = [gate(), gate(), gate()]
    const { client } = await mesh(async function* () {
      for (const [i, word] of ['Hel', 'lo', '!'].entries()) {
        yield { delta: word }
        await gates[i]?.wait
      }
    }, { cx: false }, { allowPlaintext: true })
    const stream = client.chatStream([{ role: 'user', content: 'greet' }])
    const got: string[] = []
    let last
    let i = 0
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk')
      const content = chunk.choices[0]?.delta.content
      if (content !== undefined) {
        got.push(content)
        gates[i++]?.open()
      }
      last = chunk
    }
    expect(got).toEqual(['Hel', 'lo', '!'])
    expect(last).toMatchObject({ choices: [{ finish_reason: 'stop', delta: {} }], iicp: { transport: 'native' } })
  })

  it('yields the whole answer as one chunk from a node reached over HTTP', async () => {
    const { client } = await mesh(() => chatResult('all at once'), {}, { transport: 'http' })
    const chunks = []
    for await (const c of client.chatStream([{ role: 'user', content: 'x' }], { transport: 'http' })) chunks.push(c)
    expect(chunks.map((c) => c.choices[0]?.delta.content)).toEqual(['all at once', undefined])
    expect(chunks[1]).toMatchObject({ choices: [{ finish_reason: 'stop' }], iicp: { transport: 'http' }, usage: { total_tokens: 2 } })
  })

  it('sends an IICP-CX stream sealed: no plaintext chunk, one chunk from the decrypted answer', async () => {
    const { client } = await mesh(async function* () { yield { delta: 'se' }; yield { delta: 'cret' } })
    const chunks = []
    for await (const c of client.chatStream([{ role: 'user', content: 'x' }])) chunks.push(c)
    expect(chunks.map((c) => c.choices[0]?.delta.content)).toEqual(['secret', undefined])
  })
})

describe('transport fallback', () => {
  it('auto falls back to HTTP when the advertised native endpoint refuses, native does not', async () => {
    const { node, client } = await mesh(() => chatResult('ok'), { cx: false }, { allowPlaintext: true, maxAttempts: 1 })
    const dead: NodeSummary = {
      node_id: node.nodeId, endpoint: node.url as string, available: true, score: 1, region: 'unknown',
      transport_endpoint: 'iicp://127.0.0.1:1', capabilities: [{ intent: CHAT, models: ['m1'] }],
    } as NodeSummary
    const viaAuto = await client.submit(CHAT, { messages: [{ role: 'user', content: 'x' }] }, { node: dead, transport: 'auto' })
    expect(viaAuto.transport).toBe('http')
    const err = await client.submit(CHAT, { messages: [{ role: 'user', content: 'x' }] }, { node: dead, transport: 'native' }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('no_available_node')
    expect((err as IicpError).extra?.attempts).toEqual([expect.objectContaining({ code: 'connection_failed' })])
  })
})
