/**
 * Consumer tokens (dir §3.12; wire.md §1.8): a client that is itself a registered node asks its directory for a
 * short-lived, Ed25519-signed `X-IICP-Consumer-Token` per target node and intent (`POST /api/v1/consumer-token`,
 * Bearer node_token), caches it until 30 s before it expires, and sends it instead of its own node token, so the
 * directory credential never reaches another node. Modes: `optional` (use a token when one can be had),
 * `required` (no token, no task) and `disabled`.
 */
import { IicpError, errorFromResponse, isIicpError } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { Cancellation } from './deadline.js'
import type { FederatedDirectory } from './federation.js'
import type { TaskTrace } from './trace.js'

/** How a client uses consumer tokens. */
export type ConsumerAuthMode = 'optional' | 'required' | 'disabled'

/** A token is refreshed this long before its `exp` (official SDKs: 30 s). */
export const CONSUMER_TOKEN_REFRESH_MARGIN_MS = 30_000
// After a failed fetch in optional mode, do not ask again for this long (each submit would pay a directory trip).
const NEGATIVE_CACHE_MS = 60_000
const MAX_ENTRIES = 1024

interface Entry {
  readonly token: string | undefined
  readonly refreshAt: number
}

/** The `exp` claim of a `<b64url payload>.<hex sig>` token, in ms, or undefined. */
export function consumerTokenExpiryMs(token: string): number | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const claims = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { exp?: unknown }
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined
  } catch {
    return undefined
  }
}

function expiresAtMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value > 1e12 ? value : value * 1000
  if (typeof value === 'string') {
    const t = Date.parse(value)
    return Number.isNaN(t) ? undefined : t
  }
  return undefined
}

function authRequired(message: string, cause?: unknown): IicpError {
  return new IicpError('IICP-CONSUMER-AUTH-REQUIRED', message, { status: 401, retryable: false, ...(cause === undefined ? {} : { cause }) })
}

/** Fetches and caches consumer tokens for one client. */
export class ConsumerTokens {
  readonly #dir: FederatedDirectory
  readonly #nodeToken: string
  readonly #mode: Exclude<ConsumerAuthMode, 'disabled'>
  readonly #clock: () => number
  readonly #log: Logger
  readonly #fetchCancel: () => Cancellation
  readonly #cache = new Map<string, Entry>()
  readonly #inflight = new Map<string, Promise<string | undefined>>()

  /** `fetchCancel` bounds one shared fetch (client shutdown, a timeout), so one caller's deadline cannot fail another's. */
  constructor(dir: FederatedDirectory, opts: {
    nodeToken: string; mode: Exclude<ConsumerAuthMode, 'disabled'>; clock: () => number; logger: Logger; fetchCancel: () => Cancellation
  }) {
    this.#dir = dir
    this.#nodeToken = opts.nodeToken
    this.#mode = opts.mode
    this.#clock = opts.clock
    this.#log = opts.logger
    this.#fetchCancel = opts.fetchCancel
  }

  /** Whether a missing token fails the attempt. */
  get required(): boolean {
    return this.#mode === 'required'
  }

  /**
   * A token for `targetNodeId` and `intent`: cached while fresh, else fetched (concurrent callers share one
   * fetch). In optional mode a failure yields undefined; in required mode it throws `IICP-CONSUMER-AUTH-REQUIRED`.
   */
  async tokenFor(targetNodeId: string, intent: string, trace: TaskTrace, cancel: Cancellation): Promise<string | undefined> {
    const key = `${targetNodeId}\u0000${intent}`
    const now = this.#clock()
    const hit = this.#cache.get(key)
    if (hit && hit.refreshAt > now && (hit.token !== undefined || this.#mode === 'optional')) return hit.token
    let p = this.#inflight.get(key)
    if (!p) {
      p = this.#fetch(key, targetNodeId, intent, trace, this.#fetchCancel())
      this.#inflight.set(key, p)
      const done = (): void => {
        this.#inflight.delete(key)
      }
      p.then(done, done)
    }
    if (cancel.reason) throw cancel.reason
    const shared = p
    return new Promise<string | undefined>((resolve, reject) => {
      const unsubscribe = cancel.subscribe(reject)
      shared.then((v) => {
        unsubscribe()
        resolve(v)
      }, (e: unknown) => {
        unsubscribe()
        reject(e)
      })
    })
  }

  /** Drop a cached token (e.g. the node refused it). */
  forget(targetNodeId: string, intent: string): void {
    this.#cache.delete(`${targetNodeId}\u0000${intent}`)
  }

  #store(key: string, entry: Entry): void {
    if (this.#cache.size >= MAX_ENTRIES && !this.#cache.has(key)) {
      const oldest = this.#cache.keys().next()
      if (!oldest.done) this.#cache.delete(oldest.value)
    }
    this.#cache.set(key, entry)
  }

  async #fetch(key: string, targetNodeId: string, intent: string, trace: TaskTrace, cancel: Cancellation): Promise<string | undefined> {
    try {
      const res = await this.#dir.call({
        method: 'POST',
        apiPath: '/v1/consumer-token',
        body: JSON.stringify({ target_node_id: targetNodeId, intent }),
        headers: { authorization: `Bearer ${this.#nodeToken}` },
      }, trace, cancel)
      if (res.status !== 201 && res.status !== 200) throw errorFromResponse(res.status, res.text, res.headers)
      let body: { token?: unknown; expires_at?: unknown }
      try {
        body = JSON.parse(res.text) as { token?: unknown; expires_at?: unknown }
      } catch {
        throw new IicpError('invalid_response', 'Directory answered POST /v1/consumer-token, but its body is not JSON')
      }
      const token = body.token
      if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+\.[0-9a-fA-F]{128}$/.test(token)) {
        throw new IicpError('invalid_response', 'Directory answered POST /v1/consumer-token, but without a well-formed token')
      }
      // The signed `exp` is authoritative; `expires_at` is the fallback for directories that sign other shapes.
      const exp = consumerTokenExpiryMs(token) ?? expiresAtMs(body.expires_at)
      const refreshAt = exp === undefined ? this.#clock() : exp - CONSUMER_TOKEN_REFRESH_MARGIN_MS
      if (refreshAt > this.#clock()) this.#store(key, { token, refreshAt })
      return token
    } catch (err) {
      const e = isIicpError(err) ? err : new IicpError('invalid_response', 'Could not obtain a consumer token', { cause: err })
      if (cancel.reason?.code === 'aborted') throw cancel.reason
      this.#log.debug({ code: e.code, status: e.status }, 'consumer token unavailable')
      if (this.#mode === 'required') throw authRequired(`The target node needs a consumer token, and none could be obtained (${e.code})`, e)
      this.#store(key, { token: undefined, refreshAt: this.#clock() + NEGATIVE_CACHE_MS })
      return undefined
    }
  }
}
