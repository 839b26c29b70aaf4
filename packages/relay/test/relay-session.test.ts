/**
 * What this proves about a relay session's one deadline timer (it replaced a timer per call): only calls whose own
 * deadline passed fail, with 504 `task_timeout`, and the link is told to cancel them; the timer re-arms after each
 * expiry, also for a call dispatched later with an earlier deadline than the one it was armed for; answered calls
 * settle once with the worker's answer; and closing fails whatever is pending with 502 `IICP-E031`. The link is an
 * in-memory recorder (the session's contract with a transport), so every deadline is the session's own.
 */
import { describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { RelaySession } from '@iicp/relay'
import type { RelayCall, RelayCallResponse, RelayLink } from '@iicp/relay'

class RecordingLink implements RelayLink {
  readonly transport = 'ws' as const
  readonly sent: string[] = []
  readonly cancelled: string[] = []
  send(call: RelayCall): void {
    this.sent.push(call.callId)
  }
  cancel(callId: string): void {
    this.cancelled.push(callId)
  }
  isAlive(): boolean {
    return true
  }
  close(): void {}
}

function session(): { s: RelaySession; link: RecordingLink } {
  const link = new RecordingLink()
  return { s: new RelaySession({ workerId: 'w1', link, boundAtMs: 0 }), link }
}

const call = (callId: string): RelayCall => ({ callId, body: Buffer.from('{}'), headers: {} })

/** Dispatch and hand back a promise of the outcome (never rejects). */
function outcome(s: RelaySession, callId: string, timeoutMs: number): Promise<IicpError | RelayCallResponse> {
  return new Promise((resolve) => s.dispatch(call(callId), timeoutMs, (err, response) => resolve(err ?? (response as RelayCallResponse))))
}

const LONG = 10 * 60_000

describe('a relay session\'s call deadlines', () => {
  it('fail only the call whose deadline passed, with 504 task_timeout, and cancel it on the link', async () => {
    const { s, link } = session()
    const short = outcome(s, 'short', 20)
    const long = outcome(s, 'long', LONG)
    const err = await short
    expect(err).toBeInstanceOf(IicpError)
    expect(err).toMatchObject({ code: 'task_timeout', status: 504 })
    expect(link.cancelled).toEqual(['short'])
    expect(s.inFlight).toBe(1)
    expect(s.resolve('long', { status: 200, body: 'ok' })).toBe(true)
    expect(await long).toEqual({ status: 200, body: 'ok' })
    expect(s.resolve('long', { status: 200, body: 'again' })).toBe(false)
    expect(s.inFlight).toBe(0)
  })

  it('keep expiring after the first expiry, and honour a later call with an earlier deadline', async () => {
    const { s, link } = session()
    const long = outcome(s, 'long', LONG)
    // Dispatched after the timer was armed for LONG: the timer must be brought forward, or this test hangs.
    const first = outcome(s, 'first', 20)
    const second = outcome(s, 'second', 40)
    expect(await first).toMatchObject({ code: 'task_timeout' })
    expect(await second).toMatchObject({ code: 'task_timeout' })
    const third = outcome(s, 'third', 20)
    expect(await third).toMatchObject({ code: 'task_timeout' })
    expect(link.cancelled).toEqual(['first', 'second', 'third'])
    expect(link.sent).toEqual(['long', 'first', 'second', 'third'])
    s.close('unbind')
    expect(await long).toMatchObject({ code: 'IICP-E031', status: 502 })
  })

  it('fail every pending call with 502 IICP-E031 on close, and refuse calls after it', async () => {
    const { s } = session()
    const a = outcome(s, 'a', LONG)
    const b = outcome(s, 'b', LONG)
    s.close('socket_closed')
    expect(await a).toMatchObject({ code: 'IICP-E031', status: 502 })
    expect(await b).toMatchObject({ code: 'IICP-E031', status: 502 })
    expect(s.inFlight).toBe(0)
    expect(await outcome(s, 'late', LONG)).toMatchObject({ code: 'IICP-E031', status: 502 })
    await expect(s.call(call('late2'), LONG)).rejects.toMatchObject({ code: 'IICP-E031' })
  })

  it('settle a consumer that left with aborted and cancel the call on the link', async () => {
    const { s, link } = session()
    const gone = outcome(s, 'gone', LONG)
    s.abandon('gone')
    expect(await gone).toMatchObject({ code: 'aborted' })
    expect(link.cancelled).toEqual(['gone'])
    expect(s.inFlight).toBe(0)
  })
})
