/**
 * PING → PONG (core §4; dir §3.2; wire.md §1.3): Bearer auth (401; an unknown node_id is 404 so the node
 * registers again, cts DIR-HB-03), the challenge/response HMAC verified and recorded, metrics batches
 * acknowledged once, reputation moved by outcome-v2 steps (sem §11), and a dormant node revived.
 */
import { HeartbeatRequestSchema, IicpError, safeParseWire } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode, challengeMatches, newChallenge } from '../credentials.js'
import type { Reply, RequestContext } from '../http/route-table.js'

const UNAVAILABLE_STATUSES: ReadonlySet<string> = new Set(['unavailable', 'draining', 'busy', 'offline'])

/** outcome-v2 (sem §11): success +0.01, failure −0.05, positive change capped at +0.10 per heartbeat. */
function nextReputation(current: number, success: number, failed: number): number {
  const gain = Math.min(0.1, success * 0.01)
  const r = current + gain - failed * 0.05
  return Math.round(Math.min(1, Math.max(0, r)) * 10_000) / 10_000
}

/** POST /v1/heartbeat */
export function heartbeat(dir: DirectoryContext, ctx: RequestContext): Reply {
  const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>
  const node = authenticateNode(ctx, dir.table, body.node_id, { unknownNodeIsNotFound: true })
  const parsed = safeParseWire(HeartbeatRequestSchema, ctx.body)
  if (!parsed.ok) throw parsed.error
  const hb = parsed.value
  if (hb.metrics !== undefined && hb.metrics_batch_id === undefined) {
    throw new IicpError('validation_error', 'Input validation failed', { fields: { metrics_batch_id: ['metrics_batch_id is required with metrics'] } })
  }
  const rec = node.rec
  let challengeStatus: 'verified' | 'missing' = 'missing'
  const issued = node.challenges
  if (hb.challenge_response !== undefined && issued !== undefined) {
    // Stricter than the reference, which accepts a wrong answer silently: a wrong answer is a 401, and the
    // node's SDK re-registers. The previous challenge still counts in case the last PONG was lost.
    const answer = hb.challenge_response
    if (!issued.some((c) => challengeMatches(rec.hmac_key, c, answer))) {
      throw new IicpError('unauthorized', 'challenge_response does not match the issued challenge')
    }
    challengeStatus = 'verified'
  }
  const now = dir.opts.clock()
  if (challengeStatus === 'verified') rec.challenge_verified_at = now
  if (hb.max_concurrent !== undefined) rec.max_concurrent = hb.max_concurrent
  if (hb.active_jobs !== undefined) rec.active_jobs = hb.active_jobs
  rec.load = hb.load ?? Math.min(1, rec.active_jobs / rec.max_concurrent)
  // `available` wins; without it a status saying the node cannot take work counts as unavailable.
  rec.available = hb.available ?? !UNAVAILABLE_STATUSES.has(hb.status ?? '')
  rec.last_seen = now
  let accepted: string | null = null
  if (hb.metrics !== undefined && hb.metrics_batch_id !== undefined) {
    accepted = hb.metrics_batch_id
    if (hb.metrics_batch_id !== rec.last_metrics_batch) {
      rec.completed_tasks += hb.metrics.tasks_success
      rec.failed_tasks += hb.metrics.tasks_failed
      rec.reputation = nextReputation(rec.reputation, hb.metrics.tasks_success, hb.metrics.tasks_failed)
      rec.last_metrics_batch = hb.metrics_batch_id
    }
  }
  const challenge = newChallenge()
  node.issueChallenge(challenge)
  dir.table.touched(node, now)
  dir.save(node)
  return {
    status: 200,
    body: {
      ok: true,
      next_heartbeat_ms: dir.opts.heartbeatIntervalMs,
      reputation_score: rec.reputation,
      reputation_model: 'outcome-v2',
      reputation_epoch: null,
      metrics_batch_accepted: accepted,
      challenge,
      challenge_status: challengeStatus,
    },
  }
}
