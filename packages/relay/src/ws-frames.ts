/**
 * Frames of the WebSocket relay transport (an @iicp/relay addition beside IICP-DIR §7.1's long-poll), which a
 * long-poll session of this package's relay and worker also carries in its bodies. Control messages are JSON text;
 * calls and results are binary so task and response bodies cross the relay as raw bytes, never parsed or re-encoded
 * on the way: [kind u8][header length u32 BE][header JSON][body].
 */
import { IicpError } from '@iicp/protocol'

/** Binary frame kinds. */
export const FRAME_CALL = 1
export const FRAME_RESULT = 2

/** Worker → relay, first message after the upgrade. */
export interface WsBindMessage {
  type: 'bind'
  worker_id: string
  intent?: string
  models?: string[]
  bind_ticket?: string
}
/** Relay → worker: bind accepted. */
export interface WsBoundMessage {
  type: 'bound'
  worker_id: string
  worker_endpoint_path: string
}
/** Relay → worker: bind refused (the relay closes the socket next). */
export interface WsRefusedMessage {
  type: 'refused'
  status: number
  error: { code: string; message: string; [k: string]: unknown }
}
/** Relay → worker: the consumer left or the call timed out; abort the handler. */
export interface WsCancelMessage {
  type: 'cancel'
  call_id: string
}
export type WsControlMessage = WsBindMessage | WsBoundMessage | WsRefusedMessage | WsCancelMessage

/** Header of a call frame. */
export interface CallFrameHeader {
  id: string
  h: Record<string, string>
}
/** Header of a result frame. */
export interface ResultFrameHeader {
  id: string
  s: number
  h?: Record<string, string>
}

export interface DecodedFrame<H> {
  kind: number
  header: H
  body: Buffer
}

/** Encode a binary frame. */
export function encodeFrame(kind: number, header: object, body: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify(header))
  const out = Buffer.allocUnsafe(5 + head.length + body.length)
  out[0] = kind
  out.writeUInt32BE(head.length, 1)
  head.copy(out, 5)
  // Buffer#copy is a memmove; TypedArray#set takes a slow path when both views share a pooled ArrayBuffer.
  if (Buffer.isBuffer(body)) body.copy(out, 5 + head.length)
  else out.set(body, 5 + head.length)
  return out
}

/** Decode a binary frame; the body is a view into `data`, not a copy. */
export function decodeFrame<H>(data: Buffer): DecodedFrame<H> {
  if (data.length < 5) throw new IicpError('invalid_response', 'relay frame too short')
  const kind = data[0] as number
  const len = data.readUInt32BE(1)
  if (5 + len > data.length) throw new IicpError('invalid_response', 'relay frame header overruns the frame')
  let header: unknown
  try {
    header = JSON.parse(data.toString('utf8', 5, 5 + len))
  } catch (cause) {
    throw new IicpError('invalid_response', 'relay frame header is not JSON', { cause })
  }
  if (typeof header !== 'object' || header === null || typeof (header as { id?: unknown }).id !== 'string') {
    throw new IicpError('invalid_response', 'relay frame header has no id')
  }
  return { kind, header: header as H, body: data.subarray(5 + len) }
}

/**
 * Long-poll bodies made of these frames (an @iicp/relay addition, offered as `frames: true` in the bind answer): a pull
 * with `?frames=1` is answered with CALL frames and results may be posted as RESULT frames, each frame after its
 * u32 BE length, so bodies cross as bytes and one post carries every result a worker finished together.
 */
export const FRAMES_MEDIA_TYPE = 'application/vnd.iicp.relay-frames'

/**
 * A worker adds a result to a frames post only while the post stays within this many bytes; a lone result may be as
 * large as a single JSON result post.
 */
export const MAX_RESULT_BATCH_BYTES = 512 * 1024

/** {@link encodeFrame} behind its u32 BE length, for a {@link FRAMES_MEDIA_TYPE} body. */
export function encodeLengthPrefixedFrame(kind: number, header: object, body: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify(header))
  const length = 5 + head.length + body.length
  const out = Buffer.allocUnsafe(4 + length)
  out.writeUInt32BE(length, 0)
  out[4] = kind
  out.writeUInt32BE(head.length, 5)
  head.copy(out, 9)
  if (Buffer.isBuffer(body)) body.copy(out, 9 + head.length)
  else out.set(body, 9 + head.length)
  return out
}

/** Split a {@link FRAMES_MEDIA_TYPE} body into frames (views into `data`); throws IicpError when a length overruns. */
export function splitFrames(data: Buffer): Buffer[] {
  const frames: Buffer[] = []
  let pos = 0
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new IicpError('invalid_response', 'relay frame length is cut off')
    const length = data.readUInt32BE(pos)
    if (pos + 4 + length > data.length) throw new IicpError('invalid_response', 'relay frame overruns the body')
    frames.push(data.subarray(pos + 4, pos + 4 + length))
    pos += 4 + length
  }
  return frames
}

/** Parse a JSON control message; undefined when it is not one. */
export function parseControl(text: string): WsControlMessage | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const type = (value as { type?: unknown }).type
  if (type === 'bind' || type === 'bound' || type === 'refused' || type === 'cancel') return value as WsControlMessage
  return undefined
}
