/**
 * HTTP and native frames on one listener (iicp-framing.md §11; official-sdks.md §6.2): every accepted connection is
 * held until its first bytes say which protocol it speaks. Fewer than four bytes that are a prefix of `IICP` wait
 * for more (the official TS SDK misroutes such fragments); a connection that stays undecided for the sniff timeout
 * goes to HTTP, whose own timeouts then apply. The bytes read are pushed back, so neither side misses any.
 */
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import { sniffProtocol } from '@iicp/protocol'
import type { TimerHandle, Timers } from '../timers.js'

/** Receives a connection that opened with the native magic, with the bytes already read. */
export type NativeConnectionHandler = (socket: Socket, head: Buffer) => void

/** The front listener of a single-port node. */
export class SinglePortListener {
  /** The listening socket (bind it with the node's port search). */
  readonly server: Server
  readonly #sniffing = new Set<Socket>()
  // The HTTP server never listens itself, so it does not track these for closeAllConnections(): we do.
  readonly #http = new Set<Socket>()
  #closed: Promise<void> | undefined

  constructor(http: HttpServer, onNative: NativeConnectionHandler, opts: { readonly sniffTimeoutMs: number; readonly timers: Timers }) {
    // node:http's own listener turns Nagle off on every connection; this one accepts for it, so it must too, or
    // each small reply may wait in the kernel for the previous segment's ACK.
    this.server = createServer({ noDelay: true }, (socket) => {
      let head: Buffer = Buffer.alloc(0)
      let timer: TimerHandle | undefined
      const route = (kind: 'iicp' | 'http'): void => {
        socket.off('data', onData)
        socket.off('error', onError)
        if (timer !== undefined) opts.timers.clearTimeout(timer)
        this.#sniffing.delete(socket)
        if (kind === 'iicp') {
          onNative(socket, head)
          return
        }
        this.#http.add(socket)
        socket.once('close', () => this.#http.delete(socket))
        socket.pause()
        if (head.length > 0) socket.unshift(head)
        http.emit('connection', socket)
        // The HTTP server attaches its reader to a paused socket; let the pushed-back bytes flow to it.
        socket.resume()
      }
      const onData = (chunk: Buffer): void => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
        const kind = sniffProtocol(head)
        if (kind !== 'need_more') route(kind)
      }
      const onError = (): void => {
        // A connection reset while undecided: nothing to answer; 'close' tidies up.
        this.#sniffing.delete(socket)
        if (timer !== undefined) opts.timers.clearTimeout(timer)
      }
      this.#sniffing.add(socket)
      socket.on('data', onData)
      socket.on('error', onError)
      socket.once('close', () => {
        this.#sniffing.delete(socket)
        if (timer !== undefined) opts.timers.clearTimeout(timer)
      })
      timer = opts.timers.setTimeout(() => {
        timer = undefined
        if (this.#sniffing.has(socket)) route('http')
      }, opts.sniffTimeoutMs)
    })
  }

  /** Drop the connections handed to HTTP (keep-alive sockets included), once their answers are out. */
  destroyConnections(): void {
    for (const s of this.#http) s.destroy()
    this.#http.clear()
  }

  /**
   * Stop accepting and drop connections still undecided. Idempotent; resolves once every connection this listener
   * accepted has ended (see {@link destroyConnections}; native sessions end with the node's native server).
   */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (!this.server.listening) {
        resolve()
      } else {
        this.server.close(() => resolve())
      }
      for (const s of this.#sniffing) s.destroy()
      this.#sniffing.clear()
    })
    return this.#closed
  }
}
