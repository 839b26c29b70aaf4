/**
 * The HTTP long-poll link (IICP-DIR §7.1): calls queue until the worker's next `GET /v1/relay/pull`, and a
 * parked pull is answered the moment a call arrives. The task goes out as `{call_id, task, headers}`, the
 * consumer's bytes spliced in unparsed (the relay parsed them once already to be sure they are JSON).
 */
import type { ServerResponse } from 'node:http'
import type { RelayCall, RelayLink } from './relay-session.js'
import { CORS_HEADERS, sendNoContent } from './http-io.js'

interface ParkedPull {
  res: ServerResponse
  timer: NodeJS.Timeout
  /** Most calls this pull may carry (`?max=N`; 1 for a reference worker). */
  max: number
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
  #flush: NodeJS.Immediate | undefined

  constructor(init: { token: string; livenessMs: number; pollTimeoutMs: number; now: () => number }) {
    this.token = init.token
    this.#livenessMs = init.livenessMs
    this.#pollTimeoutMs = init.pollTimeoutMs
    this.#now = init.now
    // Binding counts as contact: a fresh session is alive before its first pull.
    this.#lastPullAtMs = init.now()
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
      const pull = this.#parked.shift() as ParkedPull
      clearTimeout(pull.timer)
      if (deliver(pull.res, call)) return
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
   * Serve one pull: queued calls at once (up to `max`, the extras in `more`), else hold the request until a call
   * arrives or the poll times out (204).
   */
  pull(res: ServerResponse, max = 1): void {
    this.#lastPullAtMs = this.#now()
    if (this.#closed) {
      sendNoContent(res)
      return
    }
    if (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, max)
      if (deliver(res, batch[0] as RelayCall, batch.slice(1))) return
      // The puller vanished: put the calls back for the next pull.
      this.#queue.unshift(...batch)
    }
    const pull: ParkedPull = {
      res,
      max,
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
      const pull = this.#parked.shift() as ParkedPull
      clearTimeout(pull.timer)
      const batch = this.#queue.splice(0, pull.max)
      // The puller vanished: the calls go back to the front for the next one.
      if (!deliver(pull.res, batch[0] as RelayCall, batch.slice(1))) this.#queue.unshift(...batch)
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

function deliver(res: ServerResponse, call: RelayCall, more: RelayCall[] = []): boolean {
  if (res.destroyed || res.headersSent) return false
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
  const payload = Buffer.concat(parts)
  res.writeHead(200, { ...CORS_HEADERS, 'content-type': 'application/json', 'content-length': payload.length })
  res.end(payload)
  return true
}
