/**
 * Opt-in `task_id` idempotency (sem §6.3; life §5; official-sdks §3.5 step 6), for 300 s: a task whose
 * `task_id` and content (intent plus payload, or the encrypted `iicp_conf`) match an earlier one gets
 * that task's answer again, without running the handler twice; one running right now is joined. The
 * same `task_id` with other content is a 409 `conflict`. Only successful answers are kept: after a
 * failure the id is forgotten, so a retry runs afresh.
 */
import { createHash } from 'node:crypto'
import { IicpError } from '@iicp/protocol'
import type { TaskRequest } from '@iicp/protocol'
import type { HttpReply } from '../http/render-error.js'
import { ExpiringEntries } from './expiring-entries.js'

/** How long an answer is kept. */
export const IDEMPOTENCY_TTL_MS = 300_000
/** Most answers kept at once (bodies are held in memory); the oldest goes first. */
export const IDEMPOTENCY_CAPACITY = 2_000
/** Header on an answer served from the cache, so a caller can tell a replayed answer from a fresh run. */
export const IDEMPOTENT_REPLAY_HEADER = 'x-iicp-idempotent-replay'

interface Entry {
  readonly fingerprint: string
  readonly reply: HttpReply | Promise<HttpReply>
}

/** What a lookup found. */
export type IdempotencyLookup =
  | { readonly kind: 'miss' }
  | { readonly kind: 'hit'; readonly reply: HttpReply | Promise<HttpReply> }
  | { readonly kind: 'conflict'; readonly error: IicpError }

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** The content a retry must repeat: key order and whitespace do not matter, the values do. */
export function taskFingerprint(task: TaskRequest): string {
  const content = { intent: task.intent, payload: task.payload ?? null, iicp_conf: task.iicp_conf ?? null }
  return createHash('sha256').update(canonical(content)).digest('hex')
}

function marked(reply: HttpReply): HttpReply {
  return { status: reply.status, body: reply.body, headers: { ...reply.headers, [IDEMPOTENT_REPLAY_HEADER]: 'true' } }
}

/** Answers of recent tasks, by task_id. */
export class IdempotencyCache {
  private readonly entries: ExpiringEntries<Entry>

  constructor(ttlMs: number = IDEMPOTENCY_TTL_MS, capacity: number = IDEMPOTENCY_CAPACITY, private readonly onForget?: (taskId: string) => void) {
    this.entries = new ExpiringEntries(ttlMs, capacity)
  }

  /** Look a task up before running it. */
  lookup(taskId: string, fingerprint: string, now: number): IdempotencyLookup {
    const e = this.entries.get(taskId, now)
    if (e === undefined) return { kind: 'miss' }
    if (e.fingerprint !== fingerprint) {
      return { kind: 'conflict', error: new IicpError('conflict', 'task_id was already used for a different task', { extra: { reason: 'idempotency_key_reused' } }) }
    }
    const r = e.reply
    return { kind: 'hit', reply: r instanceof Promise ? r.then(marked) : marked(r) }
  }

  /** Remember a task whose handler is about to run; `reply` may still be pending. */
  begin(taskId: string, fingerprint: string, reply: HttpReply | Promise<HttpReply>, now: number): void {
    this.entries.set(taskId, { fingerprint, reply }, now)
    if (reply instanceof Promise) {
      reply.then((r) => this.settle(taskId, fingerprint, r), () => this.forget(taskId))
    } else {
      this.settle(taskId, fingerprint, reply)
    }
  }

  private settle(taskId: string, fingerprint: string, reply: HttpReply): void {
    if (reply.status >= 200 && reply.status < 300) this.entries.update(taskId, { fingerprint, reply })
    else this.forget(taskId)
  }

  private forget(taskId: string): void {
    this.entries.delete(taskId)
    this.onForget?.(taskId)
  }

  /** Answers kept now. */
  size(now: number): number {
    return this.entries.size(now)
  }
}
