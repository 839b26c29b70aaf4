// Proves the key-5 readers keep the path asymmetry of official-sdks.md §6.2 straight on the captured frames: a
// relay CALL's JSON task body, a direct CALL's JSON payload, a direct RESPONSE's CBOR result and a relay
// RESPONSE's JSON result all read back as plain objects, and malformed bodies are error values.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../src/native/cbor.js'
import { decodeFrame } from '../src/native/frame.js'
import { decodeNativeMessage } from '../src/native/messages.js'
import type { NativeMessage } from '../src/native/messages.js'
import { decodeJsonBytes, encodeJsonBytes, readCallPayload, readResponseResult } from '../src/native/payload.js'

type Frames = Array<{ i: number; header_hex: string; payload_hex: string }>
const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8'),
) as { captures: { tcp_relay_session: { session: { frames: Frames } }; native_direct_session: { frames: Frames } } }

function message(frames: Frames, i: number): NativeMessage {
  const f = frames.find((x) => x.i === i)
  const frame = decodeFrame(new Uint8Array(Buffer.from(`${f?.header_hex ?? ''}${f?.payload_hex ?? ''}`, 'hex')))
  if (!frame.ok) throw new Error(frame.error.code)
  const decoded = decodeNativeMessage(frame.frame)
  if (!decoded.ok) throw new Error(decoded.error.code)
  return decoded.message
}
const relay = fixture.captures.tcp_relay_session.session.frames
const direct = fixture.captures.native_direct_session.frames

describe('readCallPayload', () => {
  it('reads the relay CALL as the whole HTTP task body', () => {
    const call = message(relay, 8)
    if (call.kind !== 'call') throw new Error('not a CALL')
    const body = readCallPayload(call)
    expect(body.ok && body.value).toMatchObject({ intent: 'urn:iicp:intent:llm:chat:v1', payload: { messages: [{ role: 'user' }] } })
  })

  it('reads the direct CALL as the payload object alone', () => {
    const call = message(direct, 8)
    if (call.kind !== 'call') throw new Error('not a CALL')
    expect(readCallPayload(call)).toEqual({ ok: true, value: { messages: [{ role: 'user', content: 'hello native' }] } })
  })

  it('passes a CBOR-map payload through', () => {
    expect(readCallPayload({ kind: 'call', payload: { messages: [] } })).toEqual({ ok: true, value: { messages: [] } })
  })

  it('refuses a missing payload, bytes that are not JSON and JSON that is not an object', () => {
    expect(readCallPayload({ kind: 'call' })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
    expect(readCallPayload({ kind: 'call', payload: new Uint8Array([0xff]) })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
    expect(readCallPayload({ kind: 'call', payload: encodeJsonBytes([1]) })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
  })
})

describe('readResponseResult', () => {
  it('reads a direct RESPONSE result from CBOR bytes into plain objects', () => {
    const response = message(direct, 9)
    if (response.kind !== 'response') throw new Error('not a RESPONSE')
    const result = readResponseResult(response, 'direct')
    expect(result.ok && result.value).toMatchObject({ id: 'chatcmpl-call-native-1', choices: [{ message: { content: 'echo: hello native' } }] })
  })

  it('re-encodes every captured direct result to the same CBOR bytes the Python node wrote', () => {
    for (const i of [9, 11]) {
      const response = message(direct, i)
      if (response.kind !== 'response' || !(response.result instanceof Uint8Array)) throw new Error('not a direct RESPONSE')
      const result = readResponseResult(response, 'direct')
      if (!result.ok) throw new Error(result.error.code)
      expect(Buffer.from(encodeCbor(result.value)).equals(Buffer.from(response.result))).toBe(true)
    }
  })

  it('reads a relay RESPONSE result from JSON bytes as the handler return value', () => {
    const response = message(relay, 9)
    if (response.kind !== 'response') throw new Error('not a RESPONSE')
    const result = readResponseResult(response, 'relay')
    expect(result.ok && result.value).toMatchObject({ result: { object: 'chat.completion' } })
  })

  it('refuses bytes of the wrong encoding for the path', () => {
    expect(readResponseResult({ kind: 'response', result: encodeJsonBytes({ a: 1 }) }, 'direct')).toMatchObject({ ok: false })
    expect(readResponseResult({ kind: 'response', result: encodeCbor({ a: 1 }) }, 'relay')).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
  })

  it('returns an absent result as undefined', () => {
    expect(readResponseResult({ kind: 'response', errorCode: 422 }, 'direct')).toEqual({ ok: true, value: undefined })
  })
})

describe('JSON bytes', () => {
  it('round-trip and refuse what JSON cannot hold', () => {
    expect(decodeJsonBytes(encodeJsonBytes({ a: 'ü' }))).toEqual({ ok: true, value: { a: 'ü' } })
    expect(() => encodeJsonBytes(10n)).toThrowError(expect.objectContaining({ code: 'validation_error' }))
    expect(() => encodeJsonBytes(undefined)).toThrowError(expect.objectContaining({ code: 'validation_error' }))
  })
})
