/**
 * The worker's HTTP long-poll session (IICP-DIR §7.1, official-sdks.md §5.4): bind, pull in a loop, post each
 * result by call id, unbind on close. Results carry `http_status` so this relay passes the node's answer through
 * unchanged; a reference relay ignores it and merges `result` into its own envelope. A relay of this package that
 * offers frames gets pulls answered with binary CALL frames, and the results finished together in one post of
 * RESULT frames: bodies cross as bytes and a burst of tasks costs one result exchange, not one each.
 */
import { Client, buildConnector, request } from 'undici'
import type { Dispatcher } from 'undici'
import { IicpError } from '@iicp/protocol'
import type { ResolvedRelayWorkerOptions } from '../options.js'
import { parseRelayBindResponse, parseRelayPullResponse } from '../schemas.js'
import type { RelayPullResponse, RelayResultRequest } from '../schemas.js'
import {
  FRAME_CALL, FRAME_RESULT, FRAMES_MEDIA_TYPE, MAX_RESULT_BATCH_BYTES, decodeFrame, encodeLengthPrefixedFrame, splitFrames,
} from '../ws-frames.js'
import type { CallFrameHeader } from '../ws-frames.js'
import { refusalFromBody } from './connection.js'
import { exchange } from './exchange.js'
import type { WorkerConnection } from './connection.js'
import { runTask } from './run-task.js'
import { coalesceWrites } from '../write-coalescing.js'

const JSON_HEADERS = { 'content-type': 'application/json' } as const
/** Pulls held open at once against a reference relay: one pull carries one call, so several keep tasks flowing. */
const PULLERS = 4
/**
 * Pulls held open at once when pulls carry batches: two keep one parked while the other is on its way back, and a
 * burst then travels in one answer (about fourteen calls a pull at 16 in flight, against four with four pullers).
 */
const BATCH_PULLERS = 2
/** Calls one pull asks for when the relay offers batches (a reference relay does not, and gets plain pulls). */
const PULL_BATCH = 16
/** Result posts in flight on the one result connection to a relay of this package. */
const RESULT_PIPELINING = 32

/** Bind over HTTP and start pulling; rejects with IicpError when the bind fails. */
export async function connectLongPoll(
  o: ResolvedRelayWorkerOptions, ticket: string | undefined, dispatcher: Dispatcher, signal: AbortSignal,
): Promise<WorkerConnection> {
  const bind: Record<string, unknown> = { worker_id: o.workerId, models: [...o.models] }
  if (o.intent !== undefined) bind.intent = o.intent
  if (ticket !== undefined) bind.bind_ticket = ticket
  let status: number
  let text: string
  try {
    const res = await request(`${o.relayUrl}/v1/relay/bind`, {
      method: 'POST', dispatcher, signal, headers: JSON_HEADERS, body: JSON.stringify(bind),
      headersTimeout: o.connectTimeoutMs, bodyTimeout: o.connectTimeoutMs,
    })
    status = res.statusCode
    text = await res.body.text()
  } catch (cause) {
    if (signal.aborted) throw new IicpError('aborted', 'worker closed while binding', { cause })
    throw new IicpError('connection_failed', 'could not reach the relay to bind', { cause })
  }
  if (status !== 200) throw refusalFromBody(status, text)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (cause) {
    throw new IicpError('invalid_response', 'relay bind answer is not JSON', { cause })
  }
  const session = parseRelayBindResponse(parsed)
  // Frames carry raw answers by nature, so they are used only where raw results are offered too.
  const framed = session.frames === true && session.raw_result === true
  const pullUrl = session.max_pull_batch === undefined
    ? `${o.relayUrl}/v1/relay/pull${framed ? '?frames=1' : ''}`
    : `${o.relayUrl}/v1/relay/pull?max=${Math.min(PULL_BATCH, session.max_pull_batch)}${framed ? '&frames=1' : ''}`
  const pullers = session.max_pull_batch === undefined ? PULLERS : BATCH_PULLERS
  return new LongPollConnection(o, session.session_token, session.poll_timeout_s * 1000, session.raw_result === true, pullUrl, pullers, dispatcher)
}

/** Origin and path of a relay URL, split once so no request parses a URL again. */
function target(url: string): { origin: string; path: string } {
  const u = new URL(url)
  return { origin: u.origin, path: `${u.pathname}${u.search}` }
}

class LongPollConnection implements WorkerConnection {
  readonly transport = 'http' as const
  readonly ended: Promise<string>
  readonly #o: ResolvedRelayWorkerOptions
  readonly #auth: Record<string, string>
  readonly #resultHeaders: Record<string, string>
  readonly #framesHeaders: Record<string, string>
  readonly #pollTimeoutMs: number
  readonly #rawResult: boolean
  /** RESULT frames finished in this event-loop turn, posted together at its end. */
  #batch: Buffer[] = []
  #batchBytes = 0
  #batchFlush: NodeJS.Immediate | undefined
  readonly #pull: { origin: string; path: string }
  /** Pulls are frames pulls, which may carry this worker's finished results (POST). */
  readonly #framed: boolean
  readonly #result: { origin: string; path: string }
  readonly #dispatcher: Dispatcher
  /** Where results go: the shared agent, or (relays of this package) one pipelined connection. */
  readonly #results: Dispatcher
  readonly #resultsClient: Client | undefined
  #beforeResultWrite: () => void = () => undefined
  readonly #ac = new AbortController()
  #onEnded: (reason: string) => void = () => undefined
  #closing: Promise<void> | undefined

  constructor(
    o: ResolvedRelayWorkerOptions, token: string, pollTimeoutMs: number, rawResult: boolean, pullUrl: string, pullers: number, dispatcher: Dispatcher,
  ) {
    this.#o = o
    this.#auth = { authorization: `Bearer ${token}` }
    this.#resultHeaders = { ...JSON_HEADERS, ...this.#auth }
    this.#framesHeaders = { 'content-type': FRAMES_MEDIA_TYPE, ...this.#auth }
    this.#pollTimeoutMs = pollTimeoutMs
    this.#rawResult = rawResult
    this.#pull = target(pullUrl)
    this.#framed = /[?&]frames=1(?:&|$)/.test(pullUrl)
    this.#result = target(`${o.relayUrl}/v1/relay/result`)
    this.#dispatcher = dispatcher
    if (rawResult) {
      // A relay of this package (it offered raw results) is a node:http server, which takes pipelined requests:
      // results finished in one event-loop turn leave in one syscall and are read by the relay in one.
      // A reference relay gets one request per connection at a time, as it expects.
      const connect = buildConnector({ timeout: o.connectTimeoutMs })
      this.#resultsClient = new Client(this.#result.origin, {
        pipelining: RESULT_PIPELINING,
        keepAliveTimeout: 30_000,
        connect: (options, callback) => connect(options, (...args) => {
          if (args[1]) this.#beforeResultWrite = coalesceWrites(args[1])
          callback(...args)
        }),
      })
      this.#results = this.#resultsClient
    } else {
      this.#resultsClient = undefined
      this.#results = dispatcher
    }
    this.ended = new Promise<string>((r) => (this.#onEnded = r))
    for (let i = 0; i < pullers; i++) void this.#pullLoop()
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#ac.abort()
      try {
        const res = await request(`${this.#o.relayUrl}/v1/relay/unbind`, {
          method: 'POST', dispatcher: this.#dispatcher, headers: { ...JSON_HEADERS, ...this.#auth }, body: '{}',
          headersTimeout: 2_000, bodyTimeout: 2_000,
        })
        await res.body.dump()
      } catch {
        // Best effort: the relay drops the session anyway once pulls stop.
      }
      await this.#resultsClient?.destroy()
      this.#onEnded('closed')
    })()
    return this.#closing
  }

  async #pullLoop(): Promise<void> {
    const signal = this.#ac.signal
    // A pull may be held for the whole poll window; give the relay that long plus slack before calling the path dead.
    const wait = this.#pollTimeoutMs + Math.max(5_000, this.#o.connectTimeoutMs)
    while (!signal.aborted) {
      let status: number
      let text = ''
      let frames: Buffer | undefined
      // Results finished by now ride on this pull instead of a post of their own.
      const carried = this.#framed ? this.#takeResults() : undefined
      try {
        // Idempotent in effect: a result the relay already settled is dropped if undici sends the pull again.
        const res = await exchange(this.#dispatcher, carried === undefined
          ? { ...this.#pull, method: 'GET', headers: this.#auth, headersTimeout: wait, bodyTimeout: wait }
          : { ...this.#pull, method: 'POST', headers: this.#framesHeaders, body: carried, idempotent: true, headersTimeout: wait, bodyTimeout: wait },
        signal)
        status = res.status
        if (status === 200) {
          if (res.type === FRAMES_MEDIA_TYPE) frames = res.body
          else text = res.body.toString('utf8')
        }
      } catch {
        // The results still go out, on the result connection, before the session is given up.
        if (carried !== undefined) void this.#postResult(this.#framesHeaders, carried, false)
        if (!signal.aborted) this.#end('connection_lost')
        return
      }
      if (status === 204) continue
      if (status !== 200) {
        this.#end(status === 401 ? 'session_expired' : `pull_http_${status}`)
        return
      }
      if (frames !== undefined) {
        if (!this.#serveFrames(frames)) {
          this.#end('protocol_error')
          return
        }
      } else {
        let pull: RelayPullResponse
        try {
          pull = parseRelayPullResponse(JSON.parse(text))
        } catch {
          this.#end('protocol_error')
          return
        }
        void this.#serve(pull)
        for (const extra of pull.more ?? []) void this.#serve(extra)
      }
      // Let quick handlers finish, so their results ride on the next pull (or, pulling JSON, are posted before it).
      await new Promise<void>((r) => setImmediate(r))
    }
  }

  /** Run every CALL frame of a pull answer; false when the answer is unreadable (nothing is run then). */
  #serveFrames(body: Buffer): boolean {
    const calls: Array<{ id: string; headers: Record<string, string>; body: Buffer }> = []
    try {
      for (const f of splitFrames(body)) {
        const frame = decodeFrame<CallFrameHeader>(f)
        if (frame.kind !== FRAME_CALL) return false
        const h = frame.header.h
        calls.push({ id: frame.header.id, headers: typeof h === 'object' && h !== null ? h : { ...JSON_HEADERS }, body: frame.body })
      }
    } catch {
      return false
    }
    for (const c of calls) {
      void runTask(this.#o.handleTask, c.body, c.headers, this.#ac.signal).then((answer) => {
        if (!this.#ac.signal.aborted) this.#queueResult(encodeLengthPrefixedFrame(FRAME_RESULT, { id: c.id, s: answer.status, h: answer.headers }, answer.body))
      })
    }
    return true
  }

  /** Add a RESULT frame to this turn's post; a post stays within MAX_RESULT_BATCH_BYTES unless one result is larger. */
  #queueResult(frame: Buffer): void {
    if (this.#batch.length > 0 && this.#batchBytes + frame.length > MAX_RESULT_BATCH_BYTES) this.#flushResults()
    this.#batch.push(frame)
    this.#batchBytes += frame.length
    this.#batchFlush ??= setImmediate(this.#flushResults)
  }

  readonly #flushResults = (): void => {
    const body = this.#takeResults()
    // One post a turn already, so it skips the cork that coalesces JSON posts (whose uncork would wait a loop turn here).
    if (body !== undefined) void this.#postResult(this.#framesHeaders, body, false)
  }

  /** The RESULT frames waiting to go, as one body (undefined when none); they are no longer waiting after this. */
  #takeResults(): Buffer | undefined {
    if (this.#batchFlush !== undefined) clearImmediate(this.#batchFlush)
    this.#batchFlush = undefined
    const batch = this.#batch
    if (batch.length === 0) return undefined
    this.#batch = []
    this.#batchBytes = 0
    return batch.length === 1 ? batch[0] as Buffer : Buffer.concat(batch)
  }

  async #serve(pull: RelayPullResponse): Promise<void> {
    const body = Buffer.from(JSON.stringify(pull.task))
    const headers = pull.headers ?? { ...JSON_HEADERS }
    const answer = await runTask(this.#o.handleTask, body, headers, this.#ac.signal)
    const post: RelayResultRequest = { call_id: pull.call_id, result: undefined, http_status: answer.status, http_headers: answer.headers }
    if (this.#rawResult) {
      post.body = answer.body.toString('utf8')
    } else {
      // A reference relay knows only `result`, so the node's answer goes as a JSON value.
      try {
        post.result = JSON.parse(answer.body.toString('utf8'))
      } catch {
        post.result = { error: { code: 'invalid_response', message: 'worker answer is not JSON' } }
        post.http_status = 502
      }
    }
    await this.#postResult(this.#resultHeaders, JSON.stringify(post), true)
  }

  async #postResult(headers: Record<string, string>, body: string | Buffer, coalesce: boolean): Promise<void> {
    for (let attempt = 0; attempt < 2 && !this.#ac.signal.aborted; attempt++) {
      try {
        // Idempotent in effect (a repeated post of a settled call is refused or dropped) and answered at once, which
        // lets undici pipeline it behind other posts.
        const pending = exchange(this.#results, {
          ...this.#result, method: 'POST', headers, body, idempotent: true, blocking: false,
          headersTimeout: this.#o.connectTimeoutMs, bodyTimeout: this.#o.connectTimeoutMs,
        }, undefined, false)
        // After the request: undici may hold its first write for a check-phase turn, and the cork must outlast it.
        if (coalesce) this.#beforeResultWrite()
        await pending
        return
      } catch {
        // One more try on a fresh connection (a keep-alive socket may have closed under the post); after that the
        // consumer gets the relay's timeout and the pull loop notices a dead path on its own.
      }
    }
  }

  #end(reason: string): void {
    // The first puller to fail ends the session; the others see the abort and stop quietly.
    if (!this.#ac.signal.aborted) this.#ac.abort()
    this.#onEnded(reason)
  }
}
