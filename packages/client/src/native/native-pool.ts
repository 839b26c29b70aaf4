/**
 * One native connection per node endpoint, shared by every call to that node (official-sdks.md §10.6: pooled and
 * multiplexed). A connection that failed, was closed by the node, or missed its PONG deadline is replaced on the
 * next call. `close()` ends them all.
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
    const connecting = NativeClient.connect({
      endpoint,
      allowPrivateEndpoints: this.#o.allowPrivateEndpoints,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      keepaliveIntervalMs: this.#o.keepaliveIntervalMs,
      pongTimeoutMs: this.#o.pongTimeoutMs,
      ...(this.#o.timers ? { timers: this.#o.timers } : {}),
    })
    this.#conns.set(endpoint, connecting)
    connecting.then(
      (c) => {
        this.#ready.set(endpoint, c)
        void c.closed.then(() => {
          if (this.#conns.get(endpoint) === connecting) this.#conns.delete(endpoint)
          if (this.#ready.get(endpoint) === c) this.#ready.delete(endpoint)
        })
      },
      () => { if (this.#conns.get(endpoint) === connecting) this.#conns.delete(endpoint) },
    )
    const client = await untilCancelled(connecting, cancel)
    if (this.#closed) {
      client.destroy()
      throw new IicpError('aborted', 'Client is closed')
    }
    return { client, fresh: true }
  }

  /** Close every connection (CLOSE frame, then end). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    const all = [...this.#conns.values()]
    this.#conns.clear()
    this.#ready.clear()
    await Promise.all(all.map(async (p) => {
      const c = await p.catch(() => undefined)
      await c?.close()
    }))
  }
}
