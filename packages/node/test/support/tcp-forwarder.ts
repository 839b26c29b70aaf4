/**
 * A loopback TCP forwarder that can go half-open on command: it listens on one loopback address and relays bytes
 * both ways to the same port on 127.0.0.1. `freeze()` makes it a black hole, as a dead network path is: every
 * connection stays open, nothing more is delivered either way, and new connections are accepted and never answered.
 * `cut()` is a relay that died while its address still answers: every connection is dropped, and each new one is closed
 * as soon as it is accepted (and counted, so a test can tell how often a worker tried), until `restore()`.
 */
import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'

export class TcpForwarder {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #frozen = false
  #cut = false
  #accepted = 0
  #port = 0

  private constructor() {
    this.#server = createServer((client) => this.#accept(client))
  }

  /** Listen on `host` at a free port; connections go to 127.0.0.1 at that same port. */
  static async listen(host: string): Promise<TcpForwarder> {
    const f = new TcpForwarder()
    await new Promise<void>((resolve, reject) => {
      f.#server.once('error', reject)
      f.#server.listen(0, host, () => {
        f.#server.off('error', reject)
        resolve()
      })
    })
    f.#port = (f.#server.address() as AddressInfo).port
    return f
  }

  get port(): number {
    return this.#port
  }

  /** Connections accepted so far (also those a cut path closed at once). */
  get accepted(): number {
    return this.#accepted
  }

  /** Drop every connection and close each new one at once, until restore(). */
  cut(): void {
    this.#cut = true
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  /** Forward new connections again after cut(). */
  restore(): void {
    this.#cut = false
  }

  /** Stop delivering anything, without closing a connection. */
  freeze(): void {
    this.#frozen = true
  }

  /** Drop every connection and stop listening. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    if (!this.#server.listening) return
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #track(s: Socket): void {
    this.#sockets.add(s)
    s.on('error', () => undefined)
    s.once('close', () => this.#sockets.delete(s))
  }

  #accept(client: Socket): void {
    this.#accepted++
    if (this.#cut) {
      client.on('error', () => undefined)
      client.destroy()
      return
    }
    this.#track(client)
    if (this.#frozen) return
    const upstream = connect({ host: '127.0.0.1', port: this.#port })
    this.#track(upstream)
    client.on('data', (b: Buffer) => { if (!this.#frozen) upstream.write(b) })
    upstream.on('data', (b: Buffer) => { if (!this.#frozen) client.write(b) })
    // An end or close on one side is passed on only while the path is alive: a frozen path passes nothing.
    client.once('close', () => { if (!this.#frozen) upstream.destroy() })
    upstream.once('close', () => { if (!this.#frozen) client.destroy() })
  }
}
