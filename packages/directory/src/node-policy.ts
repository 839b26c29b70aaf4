/**
 * What a node declared about CIP and pricing at REGISTER (ncf §9 `policy`; ADR-019 `pricing`, dir §3.4), read
 * the same way by discover filters (dir §3.3 `cip_capable`, `max_multiplier`), scoring (sem §3.1 price term)
 * and the wire views.
 */
import type { NodeRecord } from './store/types.js'

/** Pricing models a REGISTER `pricing.pricing_model` may name (the reference directory's list). */
export const PRICING_MODELS: ReadonlySet<string> = new Set(['per_token', 'per_request', 'flat'])
/** Largest `pricing.credit_cost_multiplier` accepted at REGISTER (the reference directory's bound). */
export const MAX_CREDIT_MULTIPLIER = 1000

function field(rec: NodeRecord, block: 'policy' | 'pricing', key: string): unknown {
  const b = rec.meta[block]
  return typeof b === 'object' && b !== null ? (b as Record<string, unknown>)[key] : undefined
}

/** `pricing.credit_cost_multiplier`, 1.0 when undeclared (dir §3.4). */
export function creditCostMultiplier(rec: NodeRecord): number {
  const m = field(rec, 'pricing', 'credit_cost_multiplier')
  return typeof m === 'number' && Number.isFinite(m) && m >= 0 ? m : 1
}

/** `pricing.pricing_model`, `per_token` when undeclared (dir §3.4). */
export function pricingModel(rec: NodeRecord): string {
  const m = field(rec, 'pricing', 'pricing_model')
  return typeof m === 'string' ? m : 'per_token'
}

/** Whether the node accepts CIP remote inference (`policy.allow_remote_inference`, default false; ncf §9). */
export function allowsRemoteInference(rec: NodeRecord): boolean {
  return field(rec, 'policy', 'allow_remote_inference') === true
}

/**
 * sem §3.1 `price_score`, the normalised inverse of the node's multiplier: 1.0 for the cheapest node among
 * the candidates (`cheapest` = their lowest multiplier), `cheapest / multiplier` for the others.
 */
export function priceScore(multiplier: number, cheapest: number): number {
  if (multiplier <= cheapest) return 1
  return cheapest / multiplier
}
