/**
 * A streamed task through a relay (official-sdks.md §6.4; @iicp/relay's TCP relay): the same HTTP task POST, with
 * `Accept: text/event-stream`. A relay whose worker streams answers with server-sent events (`partial` per chunk,
 * then `completed`, `failed` or `timed_out`); any other answer is the usual JSON envelope and is read as one result.
 */
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { IICP_VERSION_HEADER_VALUE, IicpError, TaskResponseSchema, errorFromResponse, isIicpError, safeParseWire } from '@iicp/protocol'
import { sealPayload } from '../cx.js'
import { toIicpError } from '../http.js'
import { buildBody, errorFromTaskResponse, errorInSuccess } from '../task-call.js'
import type { TaskCall } from '../task-call.js'
import { hopHeaders } from '../trace.js'
import { finish } from './native-task-call.js'
import type { NativeStreamObserver, TransportResult } from './native-task-call.js'

/** Largest SSE event accepted; a relay never sends more than one frame's worth. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** POST the task to a relay route asking for server-sent events; chunks go to the observer. Throws IicpError. */
export async function callRelayStream(call: TaskCall, dispatcher: Dispatcher, observer: NativeStreamObserver): Promise<TransportResult> {
  const { candidate } = call
  const sealed = candidate.cxKey ? await sealPayload(candidate, call.payloadJson, call.taskId, call.intent) : undefined
  const body = buildBody(call, sealed, Math.min(300_000, Math.max(100, Math.floor(call.timeoutMs))))
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream, application/json',
    'x-iicp-version': IICP_VERSION_HEADER_VALUE,
  }
  if (call.consumerToken !== undefined) headers['x-iicp-consumer-token'] = call.consumerToken
  else if (call.nodeToken !== undefined) headers.authorization = `Bearer ${call.nodeToken}`
  hopHeaders(call.trace, headers)
  // An injected dispatcher gets the same address check here as on every other request.
  await call.http.admit(candidate.origin, call.cancel)
  const ac = new AbortController()
  const unsubscribe = call.cancel.subscribe((reason) => ac.abort(reason))
  try {
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${candidate.origin}${candidate.taskPath}`, { method: 'POST', headers, body, dispatcher, signal: ac.signal })
    } catch (err) {
      throw toIicpError(err, call.cancel)
    }
    const type = String(res.headers['content-type'] ?? '')
    if (!type.startsWith('text/event-stream')) {
      let text: string
      try {
        text = await res.body.text()
      } catch (err) {
        throw toIicpError(err, call.cancel)
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res.statusCode, text, res.headers)
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        throw new IicpError('invalid_response', 'Relay answered with invalid JSON')
      }
      const parsed = safeParseWire(TaskResponseSchema, json, 'invalid_response')
      if (!parsed.ok) throw parsed.error
      const r = parsed.value
      if (r.status === 'encrypted' || r.iicp_conf_resp !== undefined) return { ...(await finish(call, candidate, r, sealed?.context, r.node_id)), transport: 'http' }
      if (r.status !== 'success') throw errorFromTaskResponse(r)
      const hidden = errorInSuccess(r)
      if (hidden) throw hidden
      return { ...(await finish(call, candidate, r.result, sealed?.context, r.node_id)), transport: 'http' }
    }
    let buffer = ''
    let final: { result: unknown } | undefined
    try {
      for await (const chunk of res.body) {
        buffer += (chunk as Buffer).toString('utf8')
        if (buffer.length > MAX_EVENT_CHARS) throw new IicpError('invalid_response', 'Relay event too large')
        let cut
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n')
          if (data === '') continue
          let event: unknown
          try {
            event = JSON.parse(data)
          } catch {
            throw new IicpError('invalid_response', 'Relay sent an event that is not JSON')
          }
          if (!isRecord(event)) continue
          if (event.status === 'partial' || event.event === 'partial') {
            observer.onChunk(event.result)
            continue
          }
          if (event.status === 'success' || event.event === 'completed') {
            final = { result: event.result }
            continue
          }
          const error = isRecord(event.error) ? event.error : {}
          const code = typeof error.code === 'string' ? error.code : event.status === 'timeout' ? 'task_timeout' : 'backend_error'
          throw errorFromResponse(event.status === 'timeout' ? 504 : 502, JSON.stringify({ error: { code, ...(typeof error.message === 'string' ? { message: error.message } : {}) } }))
        }
      }
    } catch (err) {
      throw isIicpError(err) ? err : toIicpError(err, call.cancel)
    }
    if (final === undefined) throw new IicpError('invalid_response', 'Relay stream ended without a terminal event')
    return { ...(await finish(call, candidate, final.result, sealed?.context, undefined)), transport: 'http' }
  } finally {
    unsubscribe()
  }
}
