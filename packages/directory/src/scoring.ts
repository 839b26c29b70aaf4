/**
 * The directory score of sem §3.1 (wire.md §4.1), split so discover can rank without re-scoring every
 * node: `baseScore` holds the node-dependent terms and is the sort key of the intent indexes; the
 * region term depends only on the query and is added per stream.
 */
import { creditCostMultiplier, priceScore } from './node-policy.js'
import type { NodeRecord } from './store/types.js'

/** Phase 3 weights (no `?model=`). */
export const SCORE_WEIGHTS = Object.freeze({ availability: 0.35, load: 0.28, capacity: 0.18, region: 0.09, reputation: 0.1 })
/** Phase 5 weights (with `?model=`, ADR-012). */
export const MODEL_SCORE_WEIGHTS = Object.freeze({
  availability: 0.25, load: 0.2, capacity: 0.15, region: 0.1, reputation: 0.1, model: 0.1, price: 0.1,
})
/** Nodes scoring below this are never returned (sem §3.3; cts DIR-DISC-04). */
export const MIN_SCORE = 0.1

/** `region_match`: 1 on a match, 0 on a mismatch, 0.5 when the query states no preference. */
export function regionMatch(nodeRegion: string, wanted: string | undefined): number {
  if (wanted === undefined) return 0.5
  return nodeRegion === wanted ? 1 : 0
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x
}

function capacityRatio(rec: NodeRecord): number {
  return clamp01((rec.max_concurrent - rec.active_jobs) / rec.max_concurrent)
}

function minuteOf(hhmm: unknown): number | undefined {
  if (typeof hhmm !== 'string') return undefined
  const m = /^(\d{2}):(\d{2})$/.exec(hhmm)
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined
}

/** Whether the node declared availability windows (p1 §2.2), which make its score depend on the time of day. */
export function hasAvailabilityWindows(rec: NodeRecord): boolean {
  return Array.isArray(rec.meta.availability) && rec.meta.availability.length > 0
}

/**
 * `availability_factor` (sem §4): 1 inside a declared UTC window (or when none is declared), 0.5 outside.
 * A window whose end precedes its start wraps past midnight; start = end means all day.
 */
export function availabilityFactor(rec: NodeRecord, now: number): number {
  if (!hasAvailabilityWindows(rec)) return 1
  const minute = Math.floor((now % 86_400_000) / 60_000)
  for (const w of rec.meta.availability as Array<Record<string, unknown>>) {
    const start = minuteOf(w.start)
    const end = minuteOf(w.end)
    if (start === undefined || end === undefined) continue
    const inside = start === end || (start < end ? minute >= start && minute < end : minute >= start || minute < end)
    if (inside) return 1
  }
  return 0.5
}

/** Phase 3 score without its region term (only available, live nodes are ranked). */
export function baseScore(rec: NodeRecord, now: number): number {
  const w = SCORE_WEIGHTS
  return w.availability * availabilityFactor(rec, now) + w.load * (1 - clamp01(rec.load)) + w.capacity * capacityRatio(rec) + w.reputation * clamp01(rec.reputation)
}

/**
 * Phase 5 score with a requested model. `cheapest` is the lowest `credit_cost_multiplier` among the
 * intent's candidates: price_score is 1.0 for them and `cheapest / multiplier` for dearer nodes.
 */
export function modelScore(rec: NodeRecord, modelMatches: boolean, wantedRegion: string | undefined, cheapest: number, now: number): number {
  const w = MODEL_SCORE_WEIGHTS
  return w.availability * availabilityFactor(rec, now) + w.load * (1 - clamp01(rec.load)) + w.capacity * capacityRatio(rec)
    + w.region * regionMatch(rec.region, wantedRegion) + w.reputation * clamp01(rec.reputation)
    + w.model * (modelMatches ? 1 : 0) + w.price * priceScore(creditCostMultiplier(rec), cheapest)
}

/** Scores go on the wire with three decimals. */
export function roundScore(x: number): number {
  return Math.round(clamp01(x) * 1000) / 1000
}

/** Reputation tier (cip §5.1.1); platinum also needs 720 h of age. */
export function reputationTier(rec: NodeRecord, now: number): 'bronze' | 'silver' | 'gold' | 'platinum' {
  const r = rec.reputation
  if (r >= 0.85 && now - rec.registered_at >= 720 * 3_600_000) return 'platinum'
  if (r >= 0.65) return 'gold'
  if (r >= 0.4) return 'silver'
  return 'bronze'
}
