/**
 * Bind admission (IICP-DIR §7.2–§7.4, DIR-RELAY-01..03): ticket checks with a single-use jti cache, the
 * alive-session rule, a per-source rate limit for new binds and the session cap. Checks run in the reference
 * relay's order: ticket → ticket required → alive session → rate limit → capacity → replay.
 */
import { request } from 'undici'
import { IicpError, directoryApiUrl, directoryOrigin, verifyRelayBindTicket } from '@iicp/protocol'
import type { RelayBindTicketClaims } from '@iicp/protocol'

/** A sliding-window limit. */
export interface RateLimit {
  max: number
  windowMs: number
}

/** Counts new binds per source in a sliding window; bounded in memory. */
export class BindRateLimiter {
  readonly #limit: RateLimit
  readonly #hits = new Map<string, number[]>()
  readonly #maxSources: number

  constructor(limit: RateLimit, maxSources = 10_000) {
    this.#limit = limit
    this.#maxSources = maxSources
  }

  /** Record an attempt; returns ms until the next one is allowed, or 0 when this one is. */
  take(source: string, nowMs: number): number {
    const since = nowMs - this.#limit.windowMs
    const hits = (this.#hits.get(source) ?? []).filter((t) => t > since)
    if (hits.length >= this.#limit.max) {
      this.#hits.set(source, hits)
      return Math.max(1, (hits[0] as number) - since)
    }
    hits.push(nowMs)
    this.#hits.delete(source)
    this.#hits.set(source, hits)
    // Map keeps insertion order, so the first key is the least recently used source.
    if (this.#hits.size > this.#maxSources) {
      const oldest = this.#hits.keys().next().value
      if (oldest !== undefined) this.#hits.delete(oldest)
    }
    return 0
  }

  /** Drop windows that have fully expired. */
  prune(nowMs: number): void {
    const since = nowMs - this.#limit.windowMs
    for (const [source, hits] of this.#hits) if ((hits[hits.length - 1] ?? 0) <= since) this.#hits.delete(source)
  }
}

/** Remembers consumed ticket ids until their expiry (IICP-DIR §7.4: single use). */
export class JtiCache {
  readonly #seen = new Map<string, number>()

  has(jti: string, nowSeconds: number): boolean {
    const exp = this.#seen.get(jti)
    return exp !== undefined && exp >= nowSeconds
  }

  add(jti: string, expSeconds: number, nowSeconds: number): void {
    if (this.#seen.size > 4096) this.prune(nowSeconds)
    this.#seen.set(jti, expSeconds)
  }

  prune(nowSeconds: number): void {
    for (const [jti, exp] of this.#seen) if (exp < nowSeconds) this.#seen.delete(jti)
  }
}

/** Where the relay gets the directory's Ed25519 key for ticket checks. */
export interface TicketKeySource {
  /** 64-hex raw key, or undefined when none is configured. Throws IicpError when it cannot be fetched. */
  get(): Promise<string | undefined>
}

const KEY_TTL_MS = 10 * 60_000

/** A fixed key, a key fetched from `GET {directory}/v1/directory-key` (cached), or none. */
export function ticketKeySource(opts: { directoryKeyHex?: string | undefined; directoryUrl?: string | undefined; now: () => number }): TicketKeySource {
  if (opts.directoryKeyHex) {
    const key = opts.directoryKeyHex.toLowerCase()
    return { get: () => Promise.resolve(key) }
  }
  const dir = opts.directoryUrl
  if (!dir) return { get: () => Promise.resolve(undefined) }
  let cached: { key: string; at: number } | undefined
  let inflight: Promise<string> | undefined
  const fetchKey = async (): Promise<string> => {
    try {
      const res = await request(directoryApiUrl(dir, '/v1/directory-key'), {
        method: 'GET',
        headers: { accept: 'application/json' },
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      })
      const text = await res.body.text()
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
      const body: unknown = JSON.parse(text)
      const key = typeof body === 'object' && body !== null ? (body as { public_key?: unknown }).public_key : undefined
      if (typeof key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(key)) throw new Error('no 64-hex public_key')
      cached = { key: key.toLowerCase(), at: opts.now() }
      return cached.key
    } catch (cause) {
      throw new IicpError('service_unavailable', 'relay cannot verify bind tickets: directory key unavailable', { cause })
    } finally {
      inflight = undefined
    }
  }
  return {
    get() {
      if (cached && opts.now() - cached.at < KEY_TTL_MS) return Promise.resolve(cached.key)
      inflight ??= fetchKey()
      return inflight
    },
  }
}

/** The outcome of the asynchronous part of admission: verified claims, if a ticket was given. */
export interface TicketCheck {
  claims: RelayBindTicketClaims | undefined
}

/** Refusals, as the wire codes the reference relay uses (official-sdks.md §5.4). */
export const refusals = {
  ticketInvalid: (reason: string) => new IicpError('IICP-E040', `relay bind ticket invalid: ${reason}`, { status: 401 }),
  ticketRequired: () => new IicpError('IICP-E040', 'relay bind ticket required', { status: 401 }),
  ticketReplayed: () => new IicpError('IICP-E040', 'relay bind ticket replayed', { status: 409 }),
  alive: () => new IicpError('IICP-E038', 'worker_id has an alive relay session; rebind rejected', { status: 409 }),
  rateLimited: (retryAfterMs: number) => new IicpError('IICP-E039', 'relay_bind_rate_limited: too many new binds from this source', {
    status: 429, retryable: true, retryAfterMs, extra: { reason: 'relay_bind_rate_limited' },
  }),
  capacity: () => new IicpError('IICP-E039', 'relay at session capacity', { status: 503, retryable: true, extra: { reason: 'relay_at_capacity' } }),
}

/** Verify a ticket (signature, expiry, sub = worker id, aud = this relay or `*`, issuer when known). */
export async function checkTicket(
  ticket: string | undefined,
  workerId: string,
  opts: { keys: TicketKeySource; allowUnsignedBinds: boolean; nodeId: string | undefined; issuer: string | undefined; nowMs: number },
): Promise<TicketCheck> {
  if (ticket === undefined) {
    if (!opts.allowUnsignedBinds) throw refusals.ticketRequired()
    return { claims: undefined }
  }
  const key = await opts.keys.get()
  if (key === undefined) {
    // No key configured: a relay that accepts unsigned binds treats the ticket as absent, as the reference relay does.
    if (opts.allowUnsignedBinds) return { claims: undefined }
    throw new IicpError('service_unavailable', 'relay has no directory key to verify bind tickets')
  }
  let result
  try {
    result = await verifyRelayBindTicket(ticket, {
      publicKeyHex: key,
      subject: workerId,
      audience: opts.nodeId ?? '*',
      nowSeconds: Math.floor(opts.nowMs / 1000),
      ...(opts.issuer === undefined ? {} : { issuer: opts.issuer }),
    })
  } catch (cause) {
    throw new IicpError('IICP-E040', 'relay bind ticket invalid: malformed_token', { status: 401, cause })
  }
  if (!result.ok) throw refusals.ticketInvalid(result.reason)
  const claims = result.claims
  // Belt and braces: the rules that make a ticket ours, whatever the verifier's defaults.
  if (claims.typ !== 'relay-bind-ticket') throw refusals.ticketInvalid('wrong_type')
  if (claims.sub !== workerId) throw refusals.ticketInvalid('wrong_subject')
  if (claims.aud !== '*' && claims.aud !== opts.nodeId) throw refusals.ticketInvalid('wrong_audience')
  if (claims.exp * 1000 <= opts.nowMs) throw refusals.ticketInvalid('expired')
  return { claims }
}

/** The issuer a relay expects: explicit, else the directory origin (tickets carry `iss` = origin). */
export function expectedIssuer(ticketIssuer: string | undefined, directoryUrl: string | undefined): string | undefined {
  if (ticketIssuer !== undefined) return ticketIssuer
  return directoryUrl === undefined ? undefined : directoryOrigin(directoryUrl)
}
