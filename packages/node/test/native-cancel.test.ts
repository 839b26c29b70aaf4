/**
 * What this proves, on loopback with the real directory, node and client: a consumer that stops a native call
 * stops the node's task. Breaking out of `chatStream()`, aborting its signal, or aborting a `submit()` makes the
 * client close the session that carried only that call (the native wire has no per-call cancel frame), and the
 * node then aborts the handler's AbortSignal at once instead of running the task to its deadline. A pooled session
 * that still carries another call stays open, and that call finishes untouched. On the node's side, with a raw
 * native peer: a graceful CLOSE is answered with CLOSE (frm §8.3) and aborts the session's running task, and so does
 * a connection dropped without any CLOSE.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import { isIicpError } from '@iicp/protocol'
import { IicpNode } from '../src/index.js'
import type { TaskContext, TaskHandler, TaskInput } from '../src/index.js'
import { directory } from './support/directory.js'
import { nativePeer } from './support/native-peer.js'
import type { NativePeer } from './support/native-peer.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
/** A ceiling for state that follows a socket event, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

interface Gate { wait: Promise<void>; open: () => void }
function gate(): Gate {
  let open!: () => void
  const wait = new Promise<void>((resolve) => { open = resolve })
  return { wait, open }
}

/** What the node's handler saw of one task, keyed by the message the consumer sent. */
interface Seen {
  /** The handler is running. */
  readonly entered: Gate
  /** The handler's signal aborted while it waited. */
  readonly aborted: Gate
  /** Lets the handler finish normally. */
  readonly release: Gate
  /** Whether the signal was aborted when the handler returned. */
  signalAbortedAtEnd: boolean | undefined
}

function textOf(task: TaskInput): string {
  return (task.payload as { messages: Array<{ content: string }> }).messages[0]?.content ?? ''
}

function whenAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** A node whose handler streams one chunk for `stream …` messages, then waits for release or abort; others just wait. */
async function mesh(): Promise<{ node: IicpNode; client: IicpClient; seen: (text: string) => Seen }> {
  const tasks = new Map<string, Seen>()
  const seen = (text: string): Seen => {
    let s = tasks.get(text)
    if (s === undefined) {
      s = { entered: gate(), aborted: gate(), release: gate(), signalAbortedAtEnd: undefined }
      tasks.set(text, s)
    }
    return s
  }
  const waitFor = async (s: Seen, ctx: TaskContext): Promise<void> => {
    s.entered.open()
    await Promise.race([s.release.wait, whenAborted(ctx.signal).then(() => s.aborted.open())])
    s.signalAbortedAtEnd = ctx.signal.aborted
  }
  const handler: TaskHandler = (task, ctx) => {
    const text = textOf(task)
    const s = seen(text)
    if (!text.startsWith('stream')) {
      return waitFor(s, ctx).then(() => ({ choices: [{ index: 0, message: { role: 'assistant', content: `done: ${text}` }, finish_reason: 'stop' }] }))
    }
    return (async function* () {
      yield { delta: 'first' }
      await waitFor(s, ctx)
      yield { delta: ' last' }
    })()
  }
  const dir = await directory()
  closers.push(() => dir.close())
  const node = new IicpNode({
    directoryUrl: dir.apiUrl, persistState: false, host: '127.0.0.1', port: 0, handler, cx: false,
    capabilities: [{ intent: CHAT, models: ['m1'] }], deregisterOnClose: false,
  })
  closers.push(() => node.close())
  await node.serve()
  await expect.poll(() => node.isRegistered, EVENTUALLY).toBe(true)
  const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', transport: 'native' })
  closers.push(() => client.close())
  return { node, client, seen }
}

const ask = (content: string) => ({ messages: [{ role: 'user', content }] })

describe('stopping chatStream() over the native transport', () => {
  it("aborts the node handler's signal when the consumer breaks out of the loop", async () => {
    const { node, client, seen } = await mesh()
    const s = seen('stream: break')
    const got: string[] = []
    for await (const c of client.chatStream([{ role: 'user', content: 'stream: break' }])) {
      const text = c.choices[0]?.delta.content
      if (text !== undefined) got.push(text)
      break
    }
    expect(got).toEqual(['first'])
    // Resolves only through the handler's ctx.signal: nothing releases this task.
    await s.aborted.wait
    await expect.poll(() => s.signalAbortedAtEnd, EVENTUALLY).toBe(true)
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)
  })

  it("aborts the node handler's signal when the consumer aborts the stream's signal", async () => {
    const { client, seen } = await mesh()
    const s = seen('stream: abort')
    const caller = new AbortController()
    const stream = client.chatStream([{ role: 'user', content: 'stream: abort' }], { signal: caller.signal })
    const first = await stream.next()
    expect(first.done === false && first.value.choices[0]?.delta.content).toBe('first')
    await s.entered.wait
    caller.abort()
    const err = await stream.next().catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('aborted')
    await s.aborted.wait
  })

  it('keeps the pooled session, and the call it carries, when a stream beside it is stopped', async () => {
    const { node, client, seen } = await mesh()
    const held = seen('hold')
    const pending = client.submit(CHAT, ask('hold'))
    await held.entered.wait
    expect(node.nativeSessions).toBe(1)

    const s = seen('stream: beside')
    for await (const c of client.chatStream([{ role: 'user', content: 'stream: beside' }])) {
      if (c.choices[0]?.delta.content !== undefined) break
    }
    await s.aborted.wait
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(1)

    held.release.open()
    const r = await pending
    expect(r).toMatchObject({ transport: 'native', result: { choices: [{ message: { content: 'done: hold' } }] } })
    expect(held.signalAbortedAtEnd).toBe(false)
    // The pooled session is still the one that carried it.
    expect(node.nativeSessions).toBe(1)
  })

  it('lets a stream take the idle pooled session (no second handshake); stopping it closes that session, and the next task opens a new one', async () => {
    const { node, client, seen } = await mesh()
    seen('warm').release.open()
    await client.submit(CHAT, ask('warm'))
    expect(node.nativeSessions).toBe(1)

    const s = seen('stream: reuse')
    const stream = client.chatStream([{ role: 'user', content: 'stream: reuse' }])
    const first = await stream.next()
    expect(first.done === false && first.value.choices[0]?.delta.content).toBe('first')
    expect(node.nativeSessions).toBe(1)
    await stream.return(undefined)
    await s.aborted.wait
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)

    seen('after').release.open()
    expect(await client.submit(CHAT, ask('after'))).toMatchObject({ transport: 'native' })
    expect(node.nativeSessions).toBe(1)
  })

  it('gives the stream connection back to the pool when the stream ends normally, so the next task reuses it', async () => {
    const { node, client, seen } = await mesh()
    const s = seen('stream: finish')
    s.release.open()
    const got: string[] = []
    for await (const c of client.chatStream([{ role: 'user', content: 'stream: finish' }])) {
      const text = c.choices[0]?.delta.content
      if (text !== undefined) got.push(text)
    }
    expect(got).toEqual(['first', ' last'])
    seen('after').release.open()
    expect(await client.submit(CHAT, ask('after'))).toMatchObject({ transport: 'native' })
    expect(node.nativeSessions).toBe(1)
  })
})

describe('aborting submit() over the native transport', () => {
  it("closes the idle pooled session, and the node aborts the handler's signal", async () => {
    const { node, client, seen } = await mesh()
    const s = seen('cancel me')
    const caller = new AbortController()
    const pending = client.submit(CHAT, ask('cancel me'), { signal: caller.signal })
    await s.entered.wait
    caller.abort()
    const err = await pending.catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('aborted')
    await s.aborted.wait
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)

    // The next task opens a new session.
    seen('next').release.open()
    expect(await client.submit(CHAT, ask('next'))).toMatchObject({ transport: 'native', result: { choices: [{ message: { content: 'done: next' } }] } })
  })

  it('leaves a session that carries another call open, and that call finishes', async () => {
    const { node, client, seen } = await mesh()
    const held = seen('hold')
    const holding = client.submit(CHAT, ask('hold'))
    await held.entered.wait
    const s = seen('cancel beside')
    const caller = new AbortController()
    const cancelled = client.submit(CHAT, ask('cancel beside'), { signal: caller.signal })
    await s.entered.wait
    caller.abort()
    expect(await cancelled.catch((e: unknown) => isIicpError(e) && e.code)).toBe('aborted')

    held.release.open()
    expect(await holding).toMatchObject({ transport: 'native', result: { choices: [{ message: { content: 'done: hold' } }] } })
    expect(held.signalAbortedAtEnd).toBe(false)
    // Nothing closed the shared session, so the abandoned task still runs on it until it ends on its own.
    expect(node.nativeSessions).toBe(1)
    expect(s.signalAbortedAtEnd).toBeUndefined()
    s.release.open()
    await expect.poll(() => s.signalAbortedAtEnd, EVENTUALLY).toBe(false)
  })
})

describe("the node's side of a closed native session", () => {
  async function callOnRawSession(node: IicpNode, text: string): Promise<NativePeer> {
    const p = await nativePeer(node.port as number)
    closers.push(async () => p.close())
    p.send({ kind: 'init', protocolVersion: 1 })
    expect(await p.next()).toMatchObject({ kind: 'ack' })
    p.send({ kind: 'call', sessionId: randomUUID(), callId: randomUUID(), intent: CHAT, timeout: 30, payload: new TextEncoder().encode(JSON.stringify(ask(text))) })
    return p
  }

  it('answers a graceful CLOSE with CLOSE and aborts the task running on that session', async () => {
    const { node, seen } = await mesh()
    const s = seen('raw close')
    const p = await callOnRawSession(node, 'raw close')
    await s.entered.wait
    p.send({ kind: 'close' })
    expect(await p.next()).toMatchObject({ kind: 'close', reason: 'graceful' })
    await s.aborted.wait
    await p.ended
  })

  it('aborts the task of a session whose connection drops without a CLOSE', async () => {
    const { node, seen } = await mesh()
    const s = seen('raw drop')
    const p = await callOnRawSession(node, 'raw drop')
    await s.entered.wait
    p.close()
    await s.aborted.wait
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(0)
  })
})
