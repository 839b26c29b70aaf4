/**
 * What this proves: our node answers the Python SDK's native client the way the Python SDK's node does, byte for byte,
 * on a real socket. The captured client frames (fixtures/interop/native-python-sdk-0.7.107.json, captures b and c) are
 * sent to an IicpNode with an echo handler like the capture's, and every answer is compared with the captured node
 * frame. Normalised, and only these: the chat result's `id` (the Python echo built it from the call id our handler does
 * not see); the DISCOVER list (ours lists the node itself, Python's serve() answers []); key 6 on error responses (we
 * add the spec's error code); key 7 on the final stream event (tokens are reported only when the result has usage);
 * and a streaming CALL to a non-streaming handler, which gets one terminal event instead of Python's buffered reply.
 */
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError, decodeCbor, decodeNativeMessage, encodeCbor, encodeNativeMessage, readResponseResult } from '@iicp/protocol'
import type { Frame, NativeMessage, NativeResponse, NativeStreamEvent } from '@iicp/protocol'
import { IicpNode } from '../src/index.js'
import type { InnerResult, NodeOptions, TaskHandler } from '../src/index.js'
import { nativePeer } from './support/native-peer.js'
import type { NativePeer } from './support/native-peer.js'

interface CapturedFrame { readonly dir: string; readonly header_hex: string; readonly payload_hex: string }
const capture = JSON.parse(readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  captures: {
    native_direct_session: { frames: CapturedFrame[] }
    native_streaming: { streaming_server_session: { frames: CapturedFrame[] }; stream_call_against_serve_node: { frames: CapturedFrame[] } }
  }
}
const CHAT = 'urn:iicp:intent:llm:chat:v1'
const hexOf = (f: CapturedFrame): string => f.header_hex + f.payload_hex
const bytesOf = (f: CapturedFrame): Buffer => Buffer.from(hexOf(f), 'hex')
function frameHex(f: Frame): string {
  const head = Buffer.from([0x49, 0x49, 0x43, 0x50, f.version, f.type, f.flags, f.reserved, 0, 0, 0, 0])
  head.writeUInt32BE(f.payload.length, 8)
  return head.toString('hex') + Buffer.from(f.payload).toString('hex')
}
function decodeCaptured(f: CapturedFrame): NativeMessage {
  const payload = Buffer.from(f.payload_hex, 'hex')
  const m = decodeNativeMessage({ version: 1, type: parseInt(f.header_hex.slice(10, 12), 16), flags: 0, reserved: 0, payload })
  if (!m.ok) throw new Error(m.error.message)
  return m.message
}
const hex = (m: NativeMessage): string => Buffer.from(encodeNativeMessage(m)).toString('hex')
function without<T extends object>(m: T, ...keys: string[]): T {
  return Object.fromEntries(Object.entries(m).filter(([k]) => !keys.includes(k))) as T
}

/** A result with the captured `id` put back, re-encoded the way the node encodes key 5. */
function withId(m: NativeResponse, id: string): NativeResponse {
  const r = readResponseResult(m, 'direct')
  if (!r.ok) throw new Error(r.error.message)
  return { ...m, result: encodeCbor({ ...(r.value as Record<string, unknown>), id }) }
}
function capturedId(m: NativeResponse): string {
  const d = decodeCbor(m.result as Uint8Array)
  return ((d.ok ? d.value : undefined) as Map<string, unknown> | undefined)?.get('id') as string
}

const words = (s: string): number => s.split(/\s+/).filter(Boolean).length
/** The capture's echo handler: an OpenAI chat.completion with word counts as usage. */
const echoHandler: TaskHandler = (task) => {
  const content = (task.payload as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
  const reply = `echo: ${content}`
  return {
    id: 'chatcmpl-ours', model: 'echo-1',
    usage: { total_tokens: words(content) + words(reply), prompt_tokens: words(content), completion_tokens: words(reply) },
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
  }
}
/** The capture's streaming echo server: three deltas then `{content}`; `buffered` answers at once; `fail` is refused with 422. */
const streamingHandler: TaskHandler = (task) => {
  const content = (task.payload as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
  if (content === 'fail') throw new IicpError('validation_error', "echo refuses 'fail'", { status: 422 })
  if (content === 'buffered') return { choices: [{ index: 0, message: { role: 'assistant', content: 'echo: buffered' }, finish_reason: 'stop' }] }
  return (async function* (): AsyncGenerator<InnerResult, InnerResult> {
    yield { delta: 'echo:' }
    yield { delta: ' stream' }
    yield { delta: ' me' }
    return { content: 'echo: stream me' }
  })()
}

const nodes: IicpNode[] = []
const peers: NativePeer[] = []
afterEach(async () => {
  for (const p of peers.splice(0)) p.close()
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})
async function serve(nodeId: string, handler: TaskHandler): Promise<NativePeer> {
  const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, nodeId, handler, capabilities: [{ intent: CHAT, models: ['echo-1'] }] } as NodeOptions)
  nodes.push(node)
  await node.serve()
  const p = await nativePeer(node.port as number)
  peers.push(p)
  return p
}

describe('the Python SDK IicpTcpClient against our node (capture b)', () => {
  it('answers INIT, both PINGs and both CALLs with the captured node bytes, and closes after CLOSE', async () => {
    const f = capture.captures.native_direct_session.frames
    const p = await serve('cap-node-1', echoHandler)
    for (const [send, answer] of [[0, 1], [2, 3], [4, 5]] as const) {
      p.send(bytesOf(f[send] as CapturedFrame))
      expect(frameHex(await p.nextFrame())).toBe(hexOf(f[answer] as CapturedFrame))
    }
    p.send(bytesOf(f[6] as CapturedFrame))
    const discover = decodeCaptured(f[7] as CapturedFrame)
    const ours = await p.next()
    expect(without(ours, 'nodes')).toEqual(without(discover, 'nodes'))
    expect((ours as { nodes: unknown[] }).nodes).toEqual([expect.objectContaining({ node_id: 'cap-node-1', intents: [CHAT] })])
    for (const [send, answer] of [[8, 9], [10, 11]] as const) {
      p.send(bytesOf(f[send] as CapturedFrame))
      const want = decodeCaptured(f[answer] as CapturedFrame) as NativeResponse
      const got = (await p.next()) as NativeResponse
      expect(hex(withId(got, capturedId(want)))).toBe(hexOf(f[answer] as CapturedFrame))
    }
    p.send(bytesOf(f[12] as CapturedFrame))
    await p.ended
  })
})

describe('the Python SDK stream_call against our node (capture c)', () => {
  it('streams the captured lifecycle frames, then answers the buffered and the refused CALL as captured', async () => {
    const f = capture.captures.native_streaming.streaming_server_session.frames
    const p = await serve('cap-stream-server', streamingHandler)
    p.send(bytesOf(f[0] as CapturedFrame))
    expect(frameHex(await p.nextFrame())).toBe(hexOf(f[1] as CapturedFrame))
    p.send(bytesOf(f[2] as CapturedFrame))
    for (const i of [3, 4, 5]) expect(frameHex(await p.nextFrame())).toBe(hexOf(f[i] as CapturedFrame))
    const final = (await p.next()) as NativeStreamEvent
    expect(hex(final)).toBe(hex(without(decodeCaptured(f[6] as CapturedFrame) as NativeStreamEvent, 'tokensUsed')))
    p.send(bytesOf(f[7] as CapturedFrame))
    expect(frameHex(await p.nextFrame())).toBe(hexOf(f[8] as CapturedFrame))
    p.send(bytesOf(f[9] as CapturedFrame))
    const refused = (await p.next()) as NativeResponse
    expect(refused.error).toEqual({ code: 'validation_error', message: "echo refuses 'fail'" })
    expect(hex(without(refused, 'error'))).toBe(hexOf(f[10] as CapturedFrame))
    p.send(bytesOf(f[11] as CapturedFrame))
    await p.ended
  })

  it('answers a streaming CALL to a non-streaming handler with one terminal event holding the buffered result', async () => {
    const f = capture.captures.native_streaming.stream_call_against_serve_node.frames
    const p = await serve('cap-node-1', echoHandler)
    p.send(bytesOf(f[0] as CapturedFrame))
    expect(frameHex(await p.nextFrame())).toBe(hexOf(f[1] as CapturedFrame))
    p.send(bytesOf(f[2] as CapturedFrame))
    const event = (await p.next()) as NativeStreamEvent
    const python = readResponseResult(decodeCaptured(f[3] as CapturedFrame) as NativeResponse, 'direct')
    expect(event).toMatchObject({ kind: 'streamEvent', status: 'success', sessionId: 'sess-stream-node', callId: 'call-stream-node-1', lifecycle: { taskId: 'task-stream-node-1', sequence: 0, event: 'completed', isFinal: true }, tokensUsed: 5 })
    expect({ ...(event.result as Record<string, unknown>), id: 'x' }).toEqual({ ...((python.ok ? python.value : {}) as Record<string, unknown>), id: 'x' })
  })
})
