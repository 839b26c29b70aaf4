/**
 * The HTTP long-poll link (IICP-DIR §7.1): calls queue until the worker's next `GET /v1/relay/pull`, and a
 * parked pull is answered the moment a call arrives. The task goes out as `{call_id, task, headers}`, the
 * consumer's bytes spliced in unparsed (the relay parsed them once already to be sure they are JSON), or, to a
 * worker that pulls with `?frames=1`, as a binary CALL frame carrying the bytes as they came.
 */
import type { ServerResponse } from 'node:http'
import { IicpError, errorBody } from '@iicp/protocol'
import type { RelayCall, RelayLink, RelaySession } from './relay-session.js'
import { CORS_HEADERS, parseJsonObject, sendNoContent } from './http-io.js'
import { FRAME_CALL, FRAMES_MEDIA_TYPE, encodeLengthPrefixedFrame } from '../ws-frames.js'

interface ParkedPull {
  res: ServerResponse
  timer: NodeJS.Timeout
  /** Most calls this pull may carry (`?max=N`; 1 for a reference worker). */
  max: number
  /** The pull asked for binary frames (`?frames=1`). */
  framed: boolean
}

/** A long-poll worker's link; `token` is its bearer session token. */
export class LongPollLink implements RelayLink {
  readonly transport = 'http' as const
  readonly token: string
  readonly #livenessMs: number
  readonly #pollTimeoutMs: number
  readonly #now: () => number
  #queue: RelayCall[] = []
  #parked: ParkedPull[] = []
  #lastPullAtMs: number
  #closed = false
  #framed = false
  #flush: NodeJS.Immediate | undefined
  #session: RelaySession | undefined

  constructor(init: { token: string; livenessMs: number; pollTimeoutMs: number; now: () => number }) {
    this.token = init.token
    this.#livenessMs = init.livenessMs
    this.#pollTimeoutMs = init.pollTimeoutMs
    this.#now = init.now
    // Binding counts as contact: a fresh session is alive before its first pull.
    this.#lastPullAtMs = init.now()
  }

  /**
   * Whether a consumer body must be checked as JSON on arrival: a JSON pull answer embeds it, while a worker that
   * pulls frames gets the bytes, and its node judges them as over WebSocket.
   */
  get needsJson(): boolean {
    return !this.#framed
  }

  /** @internal The session this link carries (set once the bind is admitted). */
  attach(session: RelaySession): void {
    this.#session = session
  }

  send(call: RelayCall): void {
    const first = this.#parked[0]
    if (first !== undefined && first.max > 1) {
      // A batching puller is parked: calls from every consumer request of this event-loop turn go out in one
      // answer, so the worker pays one pull per burst instead of one per call.
      this.#queue.push(call)
      this.#flush ??= setImmediate(() => this.#deliverQueued())
      return
    }
    while (this.#parked.length > 0) {
      const pull = this.#parked[0] as ParkedPull
      if (!pull.framed && !this.#embeddable(call)) return
      this.#parked.shift()
      clearTimeout(pull.timer)
      if (deliver(pull.res, [call], pull.framed)) return
    }
    this.#queue.push(call)
  }

  cancel(callId: string): void {
    this.#queue = this.#queue.filter((c) => c.callId !== callId)
  }

  isAlive(nowMs: number): boolean {
    return !this.#closed && (this.#parked.length > 0 || nowMs - this.#lastPullAtMs < this.#livenessMs)
  }

  /**
   * Serve one pull: queued calls at once (up to `max`, as frames when `framed`, else the extras in `more`), else hold
   * the request until a call arrives or the poll times out (204).
   */
  pull(res: ServerResponse, max = 1, framed = false): void {
    this.#lastPullAtMs = this.#now()
    if (framed) this.#framed = true
    if (this.#closed) {
      sendNoContent(res)
      return
    }
    if (this.#queue.length > 0) {
      const batch = this.#take(max, framed)
      if (batch.length > 0) {
        if (deliver(res, batch, framed)) return
        // The puller vanished: put the calls back for the next pull.
        this.#queue.unshift(...batch)
      }
    }
    const pull: ParkedPull = {
      res,
      max,
      framed,
      timer: setTimeout(() => {
        this.#unpark(pull)
        this.#lastPullAtMs = this.#now()
        sendNoContent(res)
      }, this.#pollTimeoutMs),
    }
    this.#parked.push(pull)
    res.once('close', () => {
      if (this.#unpark(pull)) this.#lastPullAtMs = this.#now()
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue = []
    if (this.#flush !== undefined) clearImmediate(this.#flush)
    this.#flush = undefined
    for (const pull of this.#parked) {
      clearTimeout(pull.timer)
      sendNoContent(pull.res)
    }
    this.#parked = []
  }

  #deliverQueued(): void {
    this.#flush = undefined
    while (this.#queue.length > 0 && this.#parked.length > 0) {
      const pull = this.#parked[0] as ParkedPull
      const batch = this.#take(pull.max, pull.framed)
      if (batch.length === 0) continue
      this.#parked.shift()
      clearTimeout(pull.timer)
      // The puller vanished: the calls go back to the front for the next one.
      if (!deliver(pull.res, batch, pull.framed)) this.#queue.unshift(...batch)
    }
  }

  /** Up to `max` queued calls for one pull answer; calls a JSON answer cannot embed are failed instead. */
  #take(max: number, framed: boolean): RelayCall[] {
    const batch = this.#queue.splice(0, max)
    return framed ? batch : batch.filter((c) => this.#embeddable(c))
  }

  /**
   * Whether a call can go into a JSON pull answer. A call that arrived after the worker pulled frames was not
   * checked; should a JSON pull still come for it, a body that is not JSON fails with 400 as it would have on arrival.
   */
  #embeddable(call: RelayCall): boolean {
    if (call.task !== undefined) return true
    try {
      parseJsonObject(call.body)
      return true
    } catch (err) {
      const e = err instanceof IicpError ? err : new IicpError('invalid_json')
      this.#session?.resolve(call.callId, { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify(errorBody(e)) })
      return false
    }
  }

  #unpark(pull: ParkedPull): boolean {
    const i = this.#parked.indexOf(pull)
    if (i < 0) return false
    this.#parked.splice(i, 1)
    clearTimeout(pull.timer)
    return true
  }
}

function callParts(call: RelayCall): Buffer[] {
  return [Buffer.from(`{"call_id":${JSON.stringify(call.callId)},"headers":${JSON.stringify(call.headers)},"task":`), call.body, CLOSE]
}

const CLOSE = Buffer.from('}')
const COMMA = Buffer.from(',')

function jsonPayload(call: RelayCall, more: readonly RelayCall[]): Buffer {
  const parts = callParts(call)
  if (more.length > 0) {
    // `more` is an @iicp/relay addition, sent only to pullers that asked with ?max=N.
    parts.pop()
    parts.push(Buffer.from(',"more":['))
    more.forEach((c, i) => {
      if (i > 0) parts.push(COMMA)
      parts.push(...callParts(c))
    })
    parts.push(Buffer.from(']}'))
  }
  return Buffer.concat(parts)
}

function framesPayload(calls: readonly RelayCall[]): Buffer {
  const frames = calls.map((c) => encodeLengthPrefixedFrame(FRAME_CALL, { id: c.callId, h: c.headers }, c.body))
  return frames.length === 1 ? frames[0] as Buffer : Buffer.concat(frames)
}

/** Answer a pull with `calls` (at least one); false when the puller is gone. */
function deliver(res: ServerResponse, calls: readonly RelayCall[], framed: boolean): boolean {
  if (res.destroyed || res.headersSent) return false
  const payload = framed ? framesPayload(calls) : jsonPayload(calls[0] as RelayCall, calls.slice(1))
  res.writeHead(200, { ...CORS_HEADERS, 'content-type': framed ? FRAMES_MEDIA_TYPE : 'application/json', 'content-length': payload.length })
  res.end(payload)
  return true
}
