/**
 * Streamed results through the relay (official-sdks.md §6.4): the consumer asks with `Accept: text/event-stream`,
 * the relay sends the worker a CALL with key 24 (task_id) and relays each lifecycle RESPONSE as one server-sent
 * event. Buffering is bounded: while the consumer does not read, at most `maxBufferedEvents` events wait; one more
 * fails the call with `relay_backpressure_exceeded` (catalogued in @iicp/protocol) instead of growing memory.
 *
 * Each SSE message is `event: <lifecycle event>` plus `data: {task_id, sequence, event, status, is_final, result?,
 * error?, tokens_used?}`; the last one has `is_final: true`. A relay-made failure is a final `failed` event whose
 * `error` is `{code, message}` (`IICP-E031`, `task_timeout`, `relay_backpressure_exceeded`, `invalid_response`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { IicpError, STREAM_BACKPRESSURE_ERROR } from '@iicp/protocol'
import { workerGone } from '../server/relay-session.js'
import type { RelayCall, RelayLink } from '../server/relay-session.js'

/** One lifecycle event of a streamed call, as a relay link reports it (official-sdks.md §6.4). */
export interface RelayStreamEvent {
  readonly taskId: string
  readonly sequence: number
  /** `partial`, `completed`, `failed`, `timed_out`, … */
  readonly event: string
  /** `partial`, `success`, `error` or `timeout`. */
  readonly status: string
  readonly isFinal: boolean
  readonly result?: unknown
  readonly error?: { readonly code?: string | number | undefined; readonly message?: string | undefined } | undefined
  readonly tokensUsed?: number | undefined
}

/** Where a link delivers a streamed call's events; `end` comes once, after the final event or with the failure. */
export interface RelayStreamSink {
  event(ev: RelayStreamEvent): void
  end(err?: IicpError): void
}

/** A link that can carry streamed calls (the native TCP link). */
export interface StreamingRelayLink extends RelayLink {
  /** Most events held for a consumer that does not read. */
  readonly maxBufferedStreamEvents: number
  /** Send a streaming CALL; `cancel` stops delivery (consumer gone, overflow, timeout). */
  stream(call: RelayCall, sink: RelayStreamSink): { cancel(): void }
}

/** Whether a link can carry streamed calls (official-sdks.md §6.4; only the native TCP link can). */
export function isStreamingLink(link: RelayLink): link is StreamingRelayLink {
  return typeof (link as Partial<StreamingRelayLink>).stream === 'function'
}

/** Whether the consumer asked for a stream (`Accept: text/event-stream`; official-sdks.md §6.4 through a relay). */
export function wantsEventStream(req: IncomingMessage): boolean {
  const accept = req.headers.accept
  return typeof accept === 'string' && /\btext\/event-stream\b/i.test(accept)
}

function sse(ev: RelayStreamEvent): string {
  const data: Record<string, unknown> = {
    task_id: ev.taskId, sequence: ev.sequence, event: ev.event, status: ev.status, is_final: ev.isFinal,
  }
  if (ev.result !== undefined) data.result = ev.result
  if (ev.error !== undefined) data.error = ev.error
  if (ev.tokensUsed !== undefined) data.tokens_used = ev.tokensUsed
  return `event: ${ev.event}\ndata: ${JSON.stringify(data, jsonSafe)}\n\n`
}

/** CBOR results may hold byte strings and integer-keyed maps; JSON gets base64 and plain objects. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (value instanceof Map) return Object.fromEntries(Array.from(value, ([k, v]: [unknown, unknown]) => [String(k), v]))
  if (typeof value === 'bigint') return value.toString()
  return value
}

/**
 * Forward one call as a stream and answer the consumer with server-sent events. Resolves when the response ended.
 * `headers` are sent with the 200 (CORS); the status is 200 from the first byte, so failures arrive as a final event.
 */
export function forwardStreamAsSse(
  res: ServerResponse, link: StreamingRelayLink, call: RelayCall, timeoutMs: number, headers: Readonly<Record<string, string>>,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const queue: string[] = []
    let blocked = false
    let done = false
    let lastEvent: Pick<RelayStreamEvent, 'taskId' | 'sequence'> = { taskId: '', sequence: -1 }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    res.flushHeaders()

    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      res.off('close', onClose)
      handle?.cancel()
      resolve()
    }
    const failWith = (err: IicpError): void => {
      if (done) return
      const ev: RelayStreamEvent = {
        taskId: lastEvent.taskId, sequence: lastEvent.sequence + 1, event: 'failed', status: 'error', isFinal: true,
        error: { code: err.code, message: err.message },
      }
      // What was already accepted goes out first, so the consumer sees an unbroken sequence and then why it stopped.
      if (!res.destroyed) {
        for (const chunk of queue.splice(0)) res.write(chunk)
        res.end(sse(ev))
      }
      finish()
    }
    const write = (chunk: string, last: boolean, ev?: RelayStreamEvent): void => {
      if (done || res.destroyed) return
      if (blocked) {
        if (queue.length >= link.maxBufferedStreamEvents) {
          failWith(new IicpError(STREAM_BACKPRESSURE_ERROR, `consumer fell more than ${link.maxBufferedStreamEvents} events behind`))
          return
        }
        if (ev) lastEvent = ev
        queue.push(chunk)
        if (last) finish()
        return
      }
      if (ev) lastEvent = ev
      if (last) {
        res.end(chunk)
        finish()
        return
      }
      if (!res.write(chunk)) {
        blocked = true
        res.once('drain', flush)
      }
    }
    const flush = (): void => {
      blocked = false
      while (queue.length > 0 && !blocked && !res.destroyed) {
        const chunk = queue.shift() as string
        if (!res.write(chunk)) {
          blocked = true
          res.once('drain', flush)
        }
      }
      // The final event was queued and the stream already released; end once it is written.
      if (queue.length === 0 && done && !res.writableEnded) res.end()
    }
    const onClose = (): void => {
      if (!res.writableFinished) finish() // the consumer went away: stop relaying, drop the rest
    }
    res.on('close', onClose)
    const timer = setTimeout(() => failWith(new IicpError('task_timeout', `relay: stream did not finish within ${timeoutMs} ms`)), timeoutMs)

    let handle: { cancel(): void } | undefined
    try {
      handle = link.stream(call, {
        event(ev) {
          write(sse(ev), ev.isFinal, ev)
        },
        end(err) {
          if (err) failWith(err)
          else if (!done) write('', true)
        },
      })
    } catch (cause) {
      failWith(workerGone('could not hand the task to the worker', cause))
    }
  })
}
