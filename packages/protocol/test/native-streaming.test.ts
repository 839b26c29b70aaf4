// Proves negotiated streaming's codec half (official-sdks.md §6.4): streamEvent() builds the Python SDK's
// captured lifecycle frames byte for byte, and StreamSequence accepts the captured stream while refusing, with
// the Python SDK's codes, every way a stream can go wrong (drifted ids, gaps, disagreeing flags, late or missing end).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeFrame } from '../src/native/frame.js'
import { decodeNativeMessage, encodeNativeMessage } from '../src/native/messages.js'
import type { NativeStreamEvent } from '../src/native/messages.js'
import { streamEvent, streamEventName, StreamSequence } from '../src/native/streaming.js'

const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8'),
) as { captures: { native_streaming: { streaming_server_session: { frames: Array<{ i: number; header_hex: string; payload_hex: string }> } } } }
const frames = fixture.captures.native_streaming.streaming_server_session.frames
const capturedHex = (i: number): string => {
  const f = frames.find((x) => x.i === i)
  return f ? f.header_hex + f.payload_hex : ''
}

function capturedEvent(i: number): NativeStreamEvent {
  const frame = decodeFrame(new Uint8Array(Buffer.from(capturedHex(i), 'hex')))
  if (!frame.ok) throw new Error(frame.error.code)
  const decoded = decodeNativeMessage(frame.frame)
  if (!decoded.ok || decoded.message.kind !== 'streamEvent') throw new Error(`frame ${i} is not a stream event`)
  return decoded.message
}

const IDS = { sessionId: 'sess-stream-1', callId: 'call-stream-1', taskId: 'task-stream-1' }
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('streamEvent', () => {
  it('builds the captured partial and final frames byte for byte', () => {
    const chunks = ['echo:', ' stream', ' me']
    chunks.forEach((delta, sequence) => {
      expect(toHex(encodeNativeMessage(streamEvent({ ...IDS, sequence, status: 'partial', result: { delta } })))).toBe(capturedHex(3 + sequence))
    })
    const final = streamEvent({ ...IDS, sequence: 3, status: 'success', result: { content: 'echo: stream me' }, tokensUsed: 3 })
    expect(toHex(encodeNativeMessage(final))).toBe(capturedHex(6))
  })

  it('derives the event name and finality from the status', () => {
    expect(streamEvent({ ...IDS, sequence: 0, status: 'timeout', error: { code: 'task_timeout' } })).toMatchObject({
      status: 'timeout', isFinal: true, error: { code: 'task_timeout' }, lifecycle: { event: 'timed_out', isFinal: true },
    })
    expect([streamEventName('partial'), streamEventName('success'), streamEventName('timeout'), streamEventName('error'), streamEventName('odd')])
      .toEqual(['partial', 'completed', 'timed_out', 'failed', 'failed'])
  })
})

describe('StreamSequence', () => {
  it('accepts the captured stream and finishes cleanly', () => {
    const sequence = new StreamSequence(IDS)
    for (const i of [3, 4, 5, 6]) expect(sequence.accept(capturedEvent(i))).toBeUndefined()
    expect(sequence.finished).toBe(true)
    expect(sequence.accepted).toBe(4)
    expect(sequence.finish()).toBeUndefined()
  })

  const first = (): NativeStreamEvent => streamEvent({ ...IDS, sequence: 0, status: 'partial', result: { delta: 'a' } })

  it.each([
    ['session_id_drift', { ...first(), sessionId: 'other' }],
    ['call_id_drift', { ...first(), callId: 'other' }],
    ['task_id_drift', { ...first(), lifecycle: { ...first().lifecycle, taskId: 'other' } }],
    ['sequence_drift', { ...first(), lifecycle: { ...first().lifecycle, sequence: 1 } }],
    ['finality_disagreement', { ...first(), isFinal: true }],
    ['status_event_disagreement', { ...first(), lifecycle: { ...first().lifecycle, event: 'completed' } }],
    ['terminal_flag_mismatch', { ...first(), isFinal: true, lifecycle: { ...first().lifecycle, isFinal: true } }],
    ['terminal_flag_mismatch', { ...streamEvent({ ...IDS, sequence: 0, status: 'success' }), isFinal: false, lifecycle: { ...first().lifecycle, event: 'completed' } }],
  ] as const)('refuses an event with %s', (code, event) => {
    expect(new StreamSequence(IDS).accept(event)).toEqual({ code, message: expect.any(String) })
  })

  it('accepts the error and timeout terminal events the lifecycle profile allows', () => {
    for (const [status, event] of [['error', 'failed'], ['error', 'cancelled'], ['timeout', 'timed_out'], ['timeout', 'expired']] as const) {
      const e = streamEvent({ ...IDS, sequence: 0, status })
      expect(new StreamSequence(IDS).accept({ ...e, lifecycle: { ...e.lifecycle, event } })).toBeUndefined()
    }
  })

  it('refuses anything after the terminal event', () => {
    const sequence = new StreamSequence(IDS)
    expect(sequence.accept(streamEvent({ ...IDS, sequence: 0, status: 'success' }))).toBeUndefined()
    expect(sequence.accept(streamEvent({ ...IDS, sequence: 1, status: 'partial' }))?.code).toBe('response_after_terminal')
  })

  it('reports a stream that ends without its terminal event', () => {
    const sequence = new StreamSequence(IDS)
    expect(sequence.accept(first())).toBeUndefined()
    expect(sequence.finish()?.code).toBe('missing_terminal_response')
  })

  it('does not count a refused event', () => {
    const sequence = new StreamSequence(IDS)
    expect(sequence.accept({ ...first(), callId: 'x' })).toBeDefined()
    expect(sequence.accepted).toBe(0)
    expect(sequence.accept(first())).toBeUndefined()
  })
})
