/**
 * The WebSocket link (an @iicp/relay transport beside IICP-DIR §7.1): calls are pushed the moment they arrive,
 * as binary frames carrying the consumer's body bytes untouched.
 */
import type { Writable } from 'node:stream'
import { WebSocket } from 'ws'
import type { RelayCall, RelayLink } from './relay-session.js'
import { FRAME_CALL, encodeFrame } from '../ws-frames.js'
import { coalesceWrites } from '../write-coalescing.js'

/** A WebSocket worker's link. */
export class WsLink implements RelayLink {
  readonly transport = 'ws' as const
  readonly #ws: WebSocket
  readonly #beforeWrite: () => void
  #closed = false

  /** `socket` is the upgraded connection under `ws`; calls of one event-loop turn share a syscall on it. */
  constructor(ws: WebSocket, socket: Writable) {
    this.#ws = ws
    this.#beforeWrite = coalesceWrites(socket)
  }

  send(call: RelayCall): void {
    if (this.#ws.readyState !== WebSocket.OPEN) throw new Error('socket not open')
    this.#beforeWrite()
    this.#ws.send(encodeFrame(FRAME_CALL, { id: call.callId, h: call.headers }, call.body), { binary: true })
  }

  cancel(callId: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'cancel', call_id: callId }))
  }

  isAlive(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN
  }

  close(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    if (reason === 'pong_timeout') this.#ws.terminate()
    else if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(1000, reason.slice(0, 100))
  }
}
