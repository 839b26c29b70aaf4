// Shared pieces of the TCP relay tests: a relay with its accept port on loopback, a raw framed socket that plays a
// worker by hand, and a loopback TCP proxy that can go silent without closing (a half-open path).
import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { FrameDecoder, decodeNativeMessage } from '@iicp/protocol'
import type { Frame, NativeMessage } from '@iicp/protocol'
import { startRelayServer, startTcpRelayAcceptor } from '@iicp/relay'
import type { StartRelayServerOptions, StartedRelayServer, TcpRelayAcceptor, TcpRelayAcceptorOptions } from '@iicp/relay'

export interface TcpRelay {
  http: StartedRelayServer
  acceptor: TcpRelayAcceptor
  /** `127.0.0.1:port` of the accept port. */
  address: string
  close(): Promise<void>
}

export async function startTcpRelay(
  options: StartRelayServerOptions = {},
  acceptorOptions: Omit<TcpRelayAcceptorOptions, 'relay'> = {},
): Promise<TcpRelay> {
  const http = await startRelayServer({ allowUnsignedBinds: true, ...options })
  const acceptor = await startTcpRelayAcceptor({ relay: http.relay, host: '127.0.0.1', port: 0, relayHttpPort: http.port, ...acceptorOptions })
  return {
    http,
    acceptor,
    address: `127.0.0.1:${acceptor.port}`,
    async close() {
      await acceptor.close()
      await http.close()
    },
  }
}

/** A hand-driven framed socket: write raw bytes, await the next frame or the end of the connection. */
export class RawPeer {
  readonly socket: Socket
  readonly #decoder = new FrameDecoder()
  readonly #frames: Frame[] = []
  #waiters: Array<() => void> = []
  #ended = false
  readonly ended: Promise<void>

  private constructor(socket: Socket) {
    this.socket = socket
    this.ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.on('data', (chunk: Buffer) => {
      const { frames } = this.#decoder.push(chunk)
      this.#frames.push(...frames)
      this.#wake()
    })
    socket.on('close', () => {
      this.#ended = true
      this.#wake()
    })
    socket.on('error', () => undefined)
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise<RawPeer>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(socket)))
      socket.once('error', reject)
    })
  }

  /** Wrap an accepted socket (a fake relay's side). */
  static of(socket: Socket): RawPeer {
    return new RawPeer(socket)
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'hex') : bytes)
  }

  /** The next frame, or undefined when the connection ended first. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.#frames.shift()
      if (f) return f
      if (this.#ended) return undefined
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  async nextMessage(): Promise<NativeMessage | undefined> {
    const f = await this.next()
    if (!f) return undefined
    const r = decodeNativeMessage(f)
    if (!r.ok) throw new Error(`undecodable frame: ${r.error.code}`)
    return r.message
  }

  close(): void {
    this.socket.destroy()
  }

  #wake(): void {
    const w = this.#waiters
    this.#waiters = []
    for (const fn of w) fn()
  }
}

/** Header plus payload of a frame, as hex. */
export function frameHex(f: Frame): { header: string; payload: string } {
  const h = Buffer.alloc(12)
  h.write('IICP', 0, 'latin1')
  h[4] = f.version
  h[5] = f.type
  h[6] = f.flags
  h[7] = f.reserved
  h.writeUInt32BE(f.payload.length, 8)
  return { header: h.toString('hex'), payload: Buffer.from(f.payload).toString('hex') }
}

/**
 * A loopback TCP proxy; `blackhole()` stops forwarding in both directions on the connections open now but keeps
 * their sockets open (a half-open path); later connections are forwarded normally. `cutNearSide()` and
 * `cutFarSide()` end the two halves of such a path one at a time, when the test says so.
 */
export class SilentableProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #silenced = new WeakSet<Socket>()
  /** Accepted (near) socket → its upstream (far) socket, while either is open. */
  readonly #pairs = new Map<Socket, Socket>()
  port = 0

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: targetPort })
      this.#pairs.set(client, upstream)
      upstream.on('close', () => this.#pairs.delete(client))
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => {
          // A silenced path carries no FIN or RST either: the far side must find out by itself.
          if (this.#silenced.has(client)) return
          client.destroy()
          upstream.destroy()
        })
      }
      client.on('data', (d: Buffer) => {
        if (!this.#silenced.has(client)) upstream.write(d)
      })
      upstream.on('data', (d: Buffer) => {
        if (!this.#silenced.has(client)) client.write(d)
      })
    })
  }

  static async start(targetPort: number): Promise<SilentableProxy> {
    const p = new SilentableProxy(targetPort)
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', () => resolve()))
    p.port = (p.#server.address() as AddressInfo).port
    return p
  }

  blackhole(): void {
    for (const s of this.#sockets) this.#silenced.add(s)
  }

  /**
   * Close the accepted side of the connections open now and leave their upstream side open and silent: the
   * connecting peer sees its connection end at once, the target still holds it (no FIN, no RST).
   */
  cutNearSide(): void {
    for (const client of this.#pairs.keys()) {
      this.#silenced.add(client)
      client.destroy()
    }
  }

  /** Close the upstream side of every connection cut by `cutNearSide()`: now the target sees them end too. */
  cutFarSide(): void {
    for (const [client, upstream] of this.#pairs) if (this.#silenced.has(client)) upstream.destroy()
  }

  /** Sockets of silenced connections stay open until this. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
