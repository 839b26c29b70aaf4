/**
 * The task path's guards in one place (official-sdks §3.5 steps 1, 5, 6): per-Origin rate limit, nonce
 * replay cache, opt-in task_id idempotency. Built once per node; each guard is absent when turned off,
 * and each check is skipped when its header or field is absent, so the plain hot path pays nothing.
 */
import type { ResolvedNodeOptions } from '../options.js'
import { IdempotencyCache } from './idempotency.js'
import { NonceReplayCache } from './nonce-replay.js'
import { OriginRateLimiter } from './origin-rate-limit.js'

/** The guards one node runs. */
export interface TaskGuards {
  readonly originLimit: OriginRateLimiter | undefined
  readonly nonces: NonceReplayCache | undefined
  readonly idempotency: IdempotencyCache | undefined
}

/**
 * Build the guards the options turn on. `onForget` hears of a task id the idempotency cache dropped
 * after a failed run, so the pipeline's duplicate check can let its retry through too.
 */
export function taskGuards(
  opts: Pick<ResolvedNodeOptions, 'taskRateLimit' | 'taskRateWindowMs' | 'replayWindowMs' | 'nonceReplayCache' | 'enableIdempotency'>,
  onForget?: (taskId: string) => void,
): TaskGuards {
  return {
    originLimit: opts.taskRateLimit > 0 ? new OriginRateLimiter(opts.taskRateLimit, opts.taskRateWindowMs) : undefined,
    nonces: opts.nonceReplayCache ? new NonceReplayCache(opts.replayWindowMs) : undefined,
    idempotency: opts.enableIdempotency ? new IdempotencyCache(opts.replayWindowMs, undefined, onForget) : undefined,
  }
}
