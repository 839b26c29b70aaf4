/**
 * The relay's native accept port (official-sdks.md §5.1–§5.2; IICP-DIR §7.1 native TCP transport): workers behind
 * NAT dial `relay_accept_port` (default 9485), INIT/ACK, RELAY_BIND/RELAY_ACK, then hold the session while the relay
 * pushes consumer tasks down it. Binds go through `RelayServer.bindSession`, so TCP workers share the one session
 * table, caps, rate limit, single-use tickets and no-displacement rule with the WebSocket and long-poll workers.
 */
import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { IicpError, NativeMessageType, decodeNativeMessage, encodeNativeMessage } from '@iicp/protocol'
import type { Frame } from '@iicp/protocol'
import { parseRelayBindRequest } from '../schemas.js'
import type { RelaySession } from '../server/relay-session.js'
import { sourceTag } from '../source-tag.js'
import { reasonFor } from './bind-refusals.js'
import { FrameChannel } from './frame-channel.js'
import { TcpLink } from './tcp-link.js'
import { resolveAcceptorOptions } from './tcp-options.js'
import type { ResolvedTcpRelayAcceptorOptions, TcpRelayAcceptorOptions } from './tcp-options.js'

/** A relay bind is small; before a bind is admitted no frame may be larger (no 16 MiB buffers for strangers). */
const PRE_BIND_MAX_PAYLOAD = 64 * 1024
/** The relay accept port's ACK: `{1: 1}`, no node id (fixtures/interop capture a, frame 1). */
const ACK = encodeNativeMessage({ kind: 'ack', protocolVersion: 1 })

/** A running relay accept port (official-sdks.md §5.1: `relay_accept_port`). */
export interface TcpRelayAcceptor {
  /** The port listened on (`relay_accept_port` to advertise at registration). */
  readonly port: number
  /** The address listened on. */
  readonly host: string
  /** Workers currently bound through this port. */
  readonly boundCount: number
  /**
   * Take over a connection accepted elsewhere, e.g. on the node's single HTTP/native port once it has seen a native
   * peer that sends RELAY_BIND (official-sdks.md §10 item 9: binds on the same port). `head` holds the bytes already
   * read from it; they may start at INIT or at RELAY_BIND.
   */
  adopt(socket: Socket, head?: Uint8Array): void
  /** Stop listening, drop every TCP session (their calls fail with 502 `IICP-E031`). Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Start accepting native worker binds (official-sdks.md §5.1). Throws `invalid_config` on bad options. */
export async function startTcpRelayAcceptor(options: TcpRelayAcceptorOptions): Promise<TcpRelayAcceptor> {
  const acceptor = new Acceptor(resolveAcceptorOptions(options))
  await acceptor.listen()
  return acceptor
}

class Acceptor implements TcpRelayAcceptor {
  readonly #o: ResolvedTcpRelayAcceptorOptions
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #sessions = new Set<RelaySession>()
  #port = 0
  #closing: Promise<void> | undefined

  constructor(o: ResolvedTcpRelayAcceptorOptions) {
    this.#o = o
    this.#server = createServer((socket) => this.#onConnection(socket))
  }

  get port(): number {
    return this.#port
  }

  get host(): string {
    return this.#o.host
  }

  get boundCount(): number {
    return this.#sessions.size
  }

  listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new IicpError('connection_failed', `relay accept port ${this.#o.port} unavailable`, { cause: err }))
      this.#server.once('error', onError)
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off('error', onError)
        this.#port = (this.#server.address() as AddressInfo).port
        this.#o.logger.info({ port: this.#port }, 'relay accept port listening')
        resolve()
      })
    })
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
      for (const session of [...this.#sessions]) this.#o.relay.dropSession(session, 'relay_closing')
      for (const socket of this.#sockets) socket.destroy()
      await closed
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  adopt(socket: Socket, head?: Uint8Array): void {
    this.#onConnection(socket, head)
  }

  #onConnection(socket: Socket, head?: Uint8Array): void {
    if (this.#closing) {
      socket.destroy()
      return
    }
    const o = this.#o
    const source = socket.remoteAddress ?? 'unknown'
    this.#sockets.add(socket)
    let phase: 'init' | 'binding' | 'bound' = 'init'
    let link: TcpLink | undefined
    let session: RelaySession | undefined
    const bindTimer = setTimeout(() => channel.close('bind_timeout'), o.bindTimeoutMs)
    bindTimer.unref()

    const refuse = (workerId: string, reason: string): void => {
      // The reference relay answers a refusal and closes, with no CLOSE frame (capture a, refused_second_bind).
      channel.close('bind_refused', encodeNativeMessage({ kind: 'relayAck', status: 'error', workerId, reason }))
    }

    const onBind = (frame: Frame): void => {
      phase = 'binding'
      const decoded = decodeNativeMessage(frame)
      if (!decoded.ok) {
        channel.fail(decoded.error)
        return
      }
      if (decoded.message.kind !== 'relayBind') return
      const m = decoded.message
      let request
      try {
        request = parseRelayBindRequest({ worker_id: m.workerId, intent: m.intent, models: m.models, bind_ticket: m.bindTicket })
      } catch (err) {
        refuse(m.workerId, reasonFor(err))
        return
      }
      o.relay.bindSession(request, source, () => (link = new TcpLink(channel, o.maxBufferedStreamEvents))).then((s) => {
        clearTimeout(bindTimer)
        if (channel.closed || !link) {
          o.relay.dropSession(s, 'socket_closed')
          return
        }
        session = s
        phase = 'bound'
        link.attach(s)
        this.#sessions.add(s)
        channel.raiseLimit(o.maxFrameBytes)
        channel.send({ kind: 'relayAck', status: 'ok', workerId: s.workerId, ...(o.relayHttpPort === undefined ? {} : { relayHttpPort: o.relayHttpPort }) })
        channel.keepalive({ pingIntervalMs: o.pingIntervalMs, pongTimeoutMs: o.pongTimeoutMs })
      }, (err: unknown) => {
        clearTimeout(bindTimer)
        refuse(m.workerId, reasonFor(err))
      })
    }

    const channel: FrameChannel = new FrameChannel(socket, PRE_BIND_MAX_PAYLOAD, {
      onFrame: (frame) => {
        if (phase === 'bound') {
          this.#onSessionFrame(frame, link as TcpLink, session as RelaySession)
          return
        }
        if (phase === 'binding') return // nothing but PING (answered by the channel) is expected until RELAY_ACK
        if (frame.type === NativeMessageType.INIT) {
          // The reference relay reads nothing from INIT and answers {1: 1} (capture a).
          channel.sendRaw(ACK)
          return
        }
        if (frame.type === NativeMessageType.RELAY_BIND) {
          onBind(frame)
          return
        }
        if (frame.type === NativeMessageType.CLOSE) {
          channel.close('worker_close')
          return
        }
        channel.close('protocol_error', encodeNativeMessage({ kind: 'close', reason: 'protocol_error', message: 'expected INIT or RELAY_BIND' }))
      },
      onClosed: (reason) => {
        clearTimeout(bindTimer)
        this.#sockets.delete(socket)
        if (session) {
          this.#sessions.delete(session)
          if (reason === 'pong_timeout') o.logger.warn({ worker_id: session.workerId }, 'relay worker missed its PONG deadline')
          o.relay.dropSession(session, reason)
        } else if (reason !== 'bind_refused' && reason !== 'socket_closed') {
          o.logger.debug({ source: sourceTag(source), reason }, 'relay accept connection closed before bind')
        }
      },
    })
    if (head) channel.feed(head)
  }

  #onSessionFrame(frame: Frame, link: TcpLink, session: RelaySession): void {
    switch (frame.type) {
      case NativeMessageType.RESPONSE:
        if (!link.onResponse(frame.payload)) {
          this.#o.logger.warn({ worker_id: session.workerId }, 'relay worker sent an unreadable RESPONSE')
          this.#o.relay.dropSession(session, 'protocol_error')
        }
        return
      case NativeMessageType.CLOSE:
        link.channel.close('worker_close')
        return
      default:
        // PONG and anything newer: liveness was already noted by the channel.
        return
    }
  }
}
