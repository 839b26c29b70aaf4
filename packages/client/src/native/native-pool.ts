/**
 * One native connection per node endpoint, shared by every call to that node (official-sdks.md §10.6: pooled and
 * multiplexed). A connection that failed, was closed by the node, or missed its PONG deadline is replaced on the
 * next call. `close()` ends them all.
 *
 * Cancelling a call: the native wire has no per-call cancel frame (frm §3 lists none; the lifecycle profile's
 * CONTROL cancel would use type 0x0B, which every deployed SDK sends as RELAY_BIND), and a node aborts the tasks of
 * a session that closes. So a call the caller gave up on closes its connection when that connection carries no
 * other call ({@link NativePool.abandon}), and a stream runs on a connection of its own ({@link NativePool.lease})
 * so that stopping it always can.
 */
import { IicpError } from '@iicp/protocol'
import type { Cancellation } from '../deadline.js'
import { NativeClient } from './native-client.js'
import type { NativeTimers } from './native-client.js'

/** Connection settings shared by the pool's connections. */
export interface NativePoolOptions {
  readonly allowPrivateEndpoints: boolean
  readonly connectTimeoutMs: number
  readonly keepaliveIntervalMs: number
  readonly pongTimeoutMs: number
  readonly timers?: NativeTimers | undefined
}

/** Race a shared promise against one caller's cancellation. */
function untilCancelled<T>(promise: Promise<T>, cancel: Cancellation): Promise<T> {
  if (cancel.reason) return Promise.reject(cancel.reason)
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = cancel.subscribe(reject)
    promise.then((v) => { unsubscribe(); resolve(v) }, (e: unknown) => { unsubscribe(); reject(e) })
  })
}

/** The native connections of one client. */
export class NativePool {
  readonly #o: NativePoolOptions
  readonly #conns = new Map<string, Promise<NativeClient>>()
  /** Connected clients, for the common case: no promise or subscription per call. */
  readonly #ready = new Map<string, NativeClient>()
  /** Connections lent to one stream each, outside the pool until given back. */
  readonly #leased = new Set<NativeClient>()
  /** The promise each pooled connection is held by in `#conns`. */
  readonly #held = new WeakMap<NativeClient, Promise<NativeClient>>()
  #closed = false

  constructor(options: NativePoolOptions) {
    this.#o = options
  }

  /** Connections held now (open or connecting). */
  get size(): number {
    return this.#conns.size
  }

  /** A live connection to `endpoint`, reusing the pooled one; `fresh` says whether this call opened it. */
  async get(endpoint: string, cancel: Cancellation): Promise<{ client: NativeClient; fresh: boolean }> {
    if (this.#closed) throw new IicpError('aborted', 'Client is closed')
    const ready = this.#ready.get(endpoint)
    if (ready?.open === true) return { client: ready, fresh: false }
    if (ready !== undefined) this.#ready.delete(endpoint)
    const held = this.#conns.get(endpoint)
    if (held !== undefined) {
      const client = await untilCancelled(held, cancel).catch((err: unknown) => {
        if (cancel.reason) throw err
        return undefined
      })
      if (client?.open === true) return { client, fresh: false }
      if (this.#conns.get(endpoint) === held) this.#conns.delete(endpoint)
    }
    const connecting = this.#connect(endpoint)
    this.#conns.set(endpoint, connecting)
    connecting.then((c) => this.#watch(endpoint, c, connecting), () => { if (this.#conns.get(endpoint) === connecting) this.#conns.delete(endpoint) })
    const client = await untilCancelled(connecting, cancel)
    if (this.#closed) {
      client.destroy()
      throw new IicpError('aborted', 'Client is closed')
    }
    return { client, fresh: true }
  }

  /**
   * A connection for one stream, which no other call shares: stopping the stream can then close it, and the node
   * aborts the task. The pooled connection is taken out of the pool when it is idle (saving a handshake on the
   * stream's first chunk), else a new one is opened. Hand it back with {@link release} or {@link abandon}.
   */
  async lease(endpoint: string, cancel: Cancellation): Promise<NativeClient> {
    if (this.#closed) throw new IicpError('aborted', 'Client is closed')
    if (this.#ready.get(endpoint)?.pending === 0) {
      // One macrotask first: a caller already handed this connection by get() has sent its call by then.
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (cancel.reason) throw cancel.reason
      const idle = this.#ready.get(endpoint)
      if (!this.#closed && idle?.open === true && idle.pending === 0) {
        // While a pooled connection is open, the held promise for its endpoint is its own.
        this.#ready.delete(endpoint)
        this.#conns.delete(endpoint)
        this.#leased.add(idle)
        return idle
      }
    }
    if (this.#closed) throw new IicpError('aborted', 'Client is closed')
    const connecting = this.#connect(endpoint)
    // Held from the start, so close() ends it even while it is still connecting.
    connecting.then((c) => {
      if (this.#closed) c.destroy()
      else this.#leased.add(c)
    }, () => undefined)
    const client = await untilCancelled(connecting, cancel).catch((err: unknown) => {
      // A lease nobody waits for any more must not linger.
      void connecting.then((c) => this.#drop(c), () => undefined)
      throw err
    })
    if (this.#closed) throw new IicpError('aborted', 'Client is closed')
    return client
  }

  /** A leased connection whose stream finished: it joins the pool when the pool has none to that node, else it closes. */
  release(endpoint: string, client: NativeClient): void {
    if (!this.#leased.delete(client)) return
    const pooled = this.#ready.get(endpoint)
    if (this.#closed || !client.open || pooled?.open === true || this.#conns.has(endpoint)) {
      void client.close()
      return
    }
    const settled = Promise.resolve(client)
    this.#conns.set(endpoint, settled)
    this.#watch(endpoint, client, settled)
  }

  /**
   * The caller gave up on a call on `client` (it stopped reading, aborted, or ran out of time). A leased connection
   * closes at once. A pooled one closes if it carries no other call, judged one macrotask later, by when every caller
   * that was already handed this connection has sent its call (callers send right after {@link get} resolves);
   * otherwise it stays, and the node runs the abandoned task to its own deadline.
   */
  abandon(endpoint: string, client: NativeClient): void {
    if (this.#leased.has(client)) {
      this.#drop(client)
      return
    }
    setImmediate(() => {
      if (client.pending > 0 || !client.open) return
      if (this.#ready.get(endpoint) === client) {
        this.#ready.delete(endpoint)
        this.#conns.delete(endpoint)
      }
      void client.close()
    })
  }

  #connect(endpoint: string): Promise<NativeClient> {
    return NativeClient.connect({
      endpoint,
      allowPrivateEndpoints: this.#o.allowPrivateEndpoints,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      keepaliveIntervalMs: this.#o.keepaliveIntervalMs,
      pongTimeoutMs: this.#o.pongTimeoutMs,
      ...(this.#o.timers ? { timers: this.#o.timers } : {}),
    })
  }

  /** Make `client` the pooled connection to `endpoint` (held as `held`) until it closes. */
  #watch(endpoint: string, client: NativeClient, held: Promise<NativeClient>): void {
    this.#ready.set(endpoint, client)
    const watched = this.#held.has(client)
    this.#held.set(client, held)
    // Once per connection, however often a stream borrows it and gives it back.
    if (watched) return
    void client.closed.then(() => {
      if (this.#conns.get(endpoint) === this.#held.get(client)) this.#conns.delete(endpoint)
      if (this.#ready.get(endpoint) === client) this.#ready.delete(endpoint)
    })
  }

  /** Close a leased connection (CLOSE, then end), so the node aborts what it still runs for it. */
  #drop(client: NativeClient): void {
    this.#leased.delete(client)
    void client.close()
  }

  /** Close every connection (CLOSE frame, then end). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    const all = [...this.#conns.values(), ...[...this.#leased].map((c) => Promise.resolve(c))]
    this.#conns.clear()
    this.#ready.clear()
    this.#leased.clear()
    await Promise.all(all.map(async (p) => {
      const c = await p.catch(() => undefined)
      await c?.close()
    }))
  }
}
