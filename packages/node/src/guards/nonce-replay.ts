/**
 * Nonce replay cache (reference-implementations §5.5; official-sdks §3.5 step 5): a task whose `nonce`
 * was seen in the last 300 s is refused with 409 `IICP-E011` `replay_detected`. Requests without a
 * nonce cost nothing. The cache is bounded; when full the oldest nonce is forgotten first.
 */
import { IicpError } from '@iicp/protocol'
import { ExpiringEntries } from './expiring-entries.js'

/** How long a nonce is remembered (official SDKs: 300 s). */
export const NONCE_TTL_MS = 300_000
/** Most nonces remembered at once. */
export const NONCE_CAPACITY = 100_000

/** Remembers recent task nonces. */
export class NonceReplayCache {
  private readonly seen: ExpiringEntries<true>

  constructor(ttlMs: number = NONCE_TTL_MS, capacity: number = NONCE_CAPACITY) {
    this.seen = new ExpiringEntries(ttlMs, capacity)
  }

  /** The refusal for a nonce seen inside the window, else undefined. Does not record it. */
  check(nonce: string, now: number): IicpError | undefined {
    return this.seen.get(nonce, now) === undefined ? undefined : new IicpError('IICP-E011', 'replay_detected')
  }

  /** Remember a nonce for the window. */
  record(nonce: string, now: number): void {
    this.seen.set(nonce, true, now)
  }

  /** Nonces remembered now. */
  size(now: number): number {
    return this.seen.size(now)
  }
}
