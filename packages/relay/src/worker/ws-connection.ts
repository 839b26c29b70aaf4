/**
 * The worker's WebSocket session: bind, take pushed calls, answer by call id, and ping with a pong deadline so a
 * half-open path is noticed within `pingIntervalMs + pongTimeoutMs` (official-sdks.md §8 item 13 fixed).
 */
import { getEventListeners } from 'node:events'
import { WebSocket } from 'ws'
import type { RawData } from 'ws'
import { IicpError } from '@iicp/protocol'
import type { ResolvedRelayWorkerOptions } from '../options.js'
import { FRAME_CALL, FRAME_RESULT, decodeFrame, encodeFrame, parseControl } from '../ws-frames.js'
import type { CallFrameHeader, WsBindMessage } from '../ws-frames.js'
import { relayRefusal, transportUnavailable } from './connection.js'
import type { WorkerConnection } from './connection.js'
import { runTask } from './run-task.js'
import { coalesceWrites } from '../write-coalescing.js'

/**
 * Idle per-call AbortControllers kept for reuse. Building an AbortSignal costs a fast handler's whole task path on
 * Node 20 (about 15 µs of a relayed task's 40 µs of worker CPU), so a signal whose call settled unaborted, with
 * every listener removed, serves the next call instead.
 */
const SPARE_CONTROLLERS = 64

/** The relay's WebSocket URL for a relay base URL. */
export function relayWsUrl(relayUrl: string): string {
  return `${relayUrl.replace(/^http/, 'ws')}/v1/relay/ws`
}

/** Connect and bind; resolves once the relay says `bound`, rejects with IicpError otherwise. */
export function connectWs(o: ResolvedRelayWorkerOptions, ticket: string | undefined, signal: AbortSignal): Promise<WorkerConnection> {
  return new Promise<WorkerConnection>((resolve, reject) => {
    const ws = new WebSocket(relayWsUrl(o.relayUrl), { perMessageDeflate: false, handshakeTimeout: o.connectTimeoutMs })
    const calls = new Map<string, AbortController>()
    const spare: AbortController[] = []
    let bound = false
    let settled = false
    let endReason: string | undefined
    let pingTimer: NodeJS.Timeout | undefined
    let pongTimer: NodeJS.Timeout | undefined
    let lastError: Error | undefined
    // Results finished in one event-loop turn share a syscall once the upgraded socket is known.
    let beforeWrite: () => void = () => undefined
    let onEnded: (reason: string) => void = () => undefined
    const ended = new Promise<string>((r) => (onEnded = r))

    const fail = (err: IicpError): void => {
      if (settled) return
      settled = true
      reject(err)
      ws.terminate()
    }
    const bindTimer = setTimeout(() => fail(new IicpError('timeout', 'relay did not answer the bind in time')), o.connectTimeoutMs)
    const onAbort = (): void => fail(new IicpError('aborted', 'worker closed while binding'))
    signal.addEventListener('abort', onAbort, { once: true })

    let closePromise: Promise<void> | undefined
    const conn: WorkerConnection = {
      transport: 'ws',
      ended,
      close() {
        closePromise ??= new Promise<void>((done) => {
          endReason ??= 'closed'
          if (ws.readyState === WebSocket.CLOSED) return done()
          ws.once('close', () => done())
          ws.close(1000, 'unbind')
          // A peer that never completes the close handshake must not hold shutdown.
          setTimeout(() => ws.terminate(), 1_000).unref()
        })
        return closePromise
      },
    }

    ws.on('unexpected-response', (_req, res) => {
      res.resume()
      fail(transportUnavailable(`relay has no WebSocket endpoint (HTTP ${res.statusCode ?? 0})`, res.statusCode ?? 502))
    })
    ws.on('upgrade', (res) => {
      beforeWrite = coalesceWrites(res.socket)
    })
    ws.on('open', () => {
      const bind: WsBindMessage = { type: 'bind', worker_id: o.workerId, models: [...o.models] }
      if (o.intent !== undefined) bind.intent = o.intent
      if (ticket !== undefined) bind.bind_ticket = ticket
      ws.send(JSON.stringify(bind))
    })
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      if (!isBinary) {
        const msg = parseControl(buf.toString('utf8'))
        if (msg?.type === 'bound' && !bound) {
          bound = true
          settled = true
          clearTimeout(bindTimer)
          signal.removeEventListener('abort', onAbort)
          startPing()
          resolve(conn)
        } else if (msg?.type === 'refused') {
          const { code, message, ...rest } = msg.error
          fail(relayRefusal(code, message, msg.status, Object.keys(rest).length > 0 ? rest : undefined))
        } else if (msg?.type === 'cancel') {
          calls.get(msg.call_id)?.abort()
        }
        return
      }
      if (!bound) return
      let frame
      try {
        frame = decodeFrame<CallFrameHeader>(buf)
      } catch {
        endReason = 'protocol_error'
        ws.terminate()
        return
      }
      if (frame.kind !== FRAME_CALL) return
      const id = frame.header.id
      const ac = spare.pop() ?? new AbortController()
      calls.set(id, ac)
      const headers = typeof frame.header.h === 'object' && frame.header.h !== null ? frame.header.h : {}
      void runTask(o.handleTask, frame.body, headers, ac.signal).then((answer) => {
        calls.delete(id)
        if (ac.signal.aborted || ws.readyState !== WebSocket.OPEN) return
        if (spare.length < SPARE_CONTROLLERS && getEventListeners(ac.signal, 'abort').length === 0) spare.push(ac)
        beforeWrite()
        ws.send(encodeFrame(FRAME_RESULT, { id, s: answer.status, h: answer.headers }, answer.body), { binary: true })
      })
    })
    ws.on('pong', () => {
      clearTimeout(pongTimer)
      pongTimer = undefined
    })
    ws.on('error', (err) => {
      lastError = err
    })
    ws.on('close', (code, reason) => {
      clearTimeout(bindTimer)
      clearInterval(pingTimer)
      clearTimeout(pongTimer)
      signal.removeEventListener('abort', onAbort)
      for (const ac of calls.values()) ac.abort()
      calls.clear()
      spare.length = 0
      if (!settled) {
        settled = true
        reject(new IicpError('connection_failed', `relay WebSocket closed before bind (${code}${reason.length ? ` ${reason.toString()}` : ''})`, { cause: lastError }))
      }
      onEnded(endReason ?? `socket_closed_${code}`)
    })

    function startPing(): void {
      pingTimer = setInterval(() => {
        if (pongTimer !== undefined) return
        ws.ping()
        pongTimer = setTimeout(() => {
          endReason = 'pong_timeout'
          ws.terminate()
        }, o.pongTimeoutMs)
      }, o.pingIntervalMs)
    }
  })
}
