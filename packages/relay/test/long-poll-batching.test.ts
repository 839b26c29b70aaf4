// Proves how the long-poll link fills parked pulls: a pull that asked for a batch (`?max=N`) and is already
// waiting gets every call handed over in the same event-loop turn in one answer (the rest in `more`), while a
// reference worker's plain pull still gets exactly one call and the next waits in the queue. Real HTTP on
// 127.0.0.1: the link answers a real pull request, read back through undici.
import { createServer } from 'node:http'
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { LongPollLink } from '../src/server/long-poll-link.js'
import type { RelayCall } from '../src/server/relay-session.js'

interface PulledCall { call_id: string; task: unknown; headers: Record<string, string>; more?: PulledCall[] }

let server: Server | undefined
afterEach(async () => {
  const s = server
  server = undefined
  if (s) await new Promise<void>((resolve) => {
    s.close(() => resolve())
    s.closeAllConnections()
  })
})

/** A server whose every request becomes a pull of `link` asking for `max` calls; `parked` settles once it is held. */
async function pullServer(link: LongPollLink, max: number): Promise<{ url: string; parked: () => Promise<void> }> {
  const waiting: Array<() => void> = []
  let held = 0
  server = createServer((_req, res: ServerResponse) => {
    link.pull(res, max)
    held++
    waiting.splice(0).forEach((wake) => wake())
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1/relay/pull`,
    parked: () => new Promise<void>((resolve) => {
      if (held > 0) {
        held--
        resolve()
      } else {
        waiting.push(() => {
          held--
          resolve()
        })
      }
    }),
  }
}

function call(n: number): RelayCall {
  return { callId: `c${n}`, body: Buffer.from(JSON.stringify({ task_id: `t${n}` })), headers: { 'x-n': String(n) } }
}

async function readPull(url: string): Promise<PulledCall> {
  const res = await request(url)
  expect(res.statusCode).toBe(200)
  return (await res.body.json()) as PulledCall
}

describe('the long-poll link', () => {
  it('hands every call sent in one turn to a parked batching pull as one answer', async () => {
    const link = new LongPollLink({ token: 'tok', livenessMs: 60_000, pollTimeoutMs: 60_000, now: () => 0 })
    const { url, parked } = await pullServer(link, 8)
    const answer = readPull(url)
    await parked()
    link.send(call(0))
    link.send(call(1))
    link.send(call(2))
    const pulled = await answer
    expect(pulled.call_id).toBe('c0')
    expect(pulled.task).toEqual({ task_id: 't0' })
    expect(pulled.headers).toEqual({ 'x-n': '0' })
    expect(pulled.more?.map((c) => [c.call_id, c.task, c.headers])).toEqual([
      ['c1', { task_id: 't1' }, { 'x-n': '1' }],
      ['c2', { task_id: 't2' }, { 'x-n': '2' }],
    ])
    link.close()
  })

  it('never puts more calls in one answer than the pull asked for, and keeps the rest for the next pull', async () => {
    const link = new LongPollLink({ token: 'tok', livenessMs: 60_000, pollTimeoutMs: 60_000, now: () => 0 })
    const { url, parked } = await pullServer(link, 2)
    const answer = readPull(url)
    await parked()
    for (const n of [0, 1, 2]) link.send(call(n))
    const first = await answer
    expect([first.call_id, ...(first.more ?? []).map((c) => c.call_id)]).toEqual(['c0', 'c1'])
    const second = await readPull(url)
    expect(second.call_id).toBe('c2')
    expect(second.more).toBeUndefined()
    link.close()
  })

  it('gives a plain pull (a reference worker) exactly one call and queues the next', async () => {
    const link = new LongPollLink({ token: 'tok', livenessMs: 60_000, pollTimeoutMs: 60_000, now: () => 0 })
    const { url, parked } = await pullServer(link, 1)
    const answer = readPull(url)
    await parked()
    link.send(call(0))
    link.send(call(1))
    const first = await answer
    expect(first.call_id).toBe('c0')
    expect(first.more).toBeUndefined()
    const second = await readPull(url)
    expect(second.call_id).toBe('c1')
    expect(second.more).toBeUndefined()
    link.close()
  })

  it('drops calls cancelled before a deferred batch goes out', async () => {
    const link = new LongPollLink({ token: 'tok', livenessMs: 60_000, pollTimeoutMs: 60_000, now: () => 0 })
    const { url, parked } = await pullServer(link, 8)
    const answer = readPull(url)
    await parked()
    link.send(call(0))
    link.send(call(1))
    link.cancel('c0')
    const pulled = await answer
    expect(pulled.call_id).toBe('c1')
    expect(pulled.more).toBeUndefined()
    link.close()
  })
})
