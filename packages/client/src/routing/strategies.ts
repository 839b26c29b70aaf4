/**
 * Candidate selection strategies (wire.md §4.2; official-sdks.md §2.4; pre-normative selection profile v1):
 * after hard eligibility, a strategy chooses which candidate goes first; the others keep directory order, so
 * failover still walks the directory's ranking. Pure functions: randomness comes in, and `seededRandom` makes
 * every pick sequence reproducible.
 */

/** The four strategies the official SDKs offer (`directory_order` is this SDK's older name for `deterministic`). */
export type RoutingStrategy = 'deterministic' | 'epsilon' | 'softmax_top_k' | 'weighted_v1'

/** Every strategy name accepted in config and `IICP_ROUTING_STRATEGY`. */
export const ROUTING_STRATEGIES: readonly string[] = Object.freeze(['deterministic', 'epsilon', 'softmax_top_k', 'weighted_v1', 'directory_order'])

/** Strategy knobs, with the official defaults (official-sdks.md §2.1). */
export interface StrategyParams {
  /** Exploration probability of `epsilon`, 0..1. @default 0.05 */
  readonly epsilon: number
  /** Pool size of `softmax_top_k` and `weighted_v1`. @default 3 */
  readonly topK: number
  /** Temperature of `softmax_top_k`, ≥ 0.001. @default 0.04 */
  readonly softmaxTau: number
}

/** The official defaults: ε 0.05, top-k 3, τ 0.04. */
export const DEFAULT_STRATEGY_PARAMS: StrategyParams = Object.freeze({ epsilon: 0.05, topK: 3, softmaxTau: 0.04 })

/** What a strategy reads from a candidate. */
export interface Scored {
  readonly score: number
  readonly load?: number | null | undefined
}

/**
 * A seedable uniform source in [0, 1) (mulberry32): the same seed gives the same pick sequence on every run and
 * platform, which is what makes strategy tests exact.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Roulette over `weights` with `r ∈ [0, 1)`: the index whose cumulative share first exceeds `r`. */
function roulette(weights: readonly number[], r: number): number {
  let total = 0
  for (const w of weights) total += w
  let target = r * total
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i] as number
    if (target < 0) return i
  }
  return weights.length - 1
}

function firstThenRest(first: number, n: number): number[] {
  const order = [first]
  for (let i = 0; i < n; i++) if (i !== first) order.push(i)
  return order
}

/**
 * `weighted_v1` (selection-v1.json): within the first `topK` nodes, weight `max(score, 0.01) / (1 + clamp(load,
 * 0, 1))`; `r ∈ [0, 1)` scaled by the total picks the first node, the others keep their order. Returns indices.
 */
export function weightedV1Order(nodes: readonly Scored[], r: number, topK: number): number[] {
  const pool = Math.min(topK, nodes.length)
  if (pool === 0) return []
  const weights: number[] = []
  for (let i = 0; i < pool; i++) {
    const n = nodes[i] as Scored
    const load = Math.min(1, Math.max(0, n.load ?? 0))
    weights.push(Math.max(n.score, 0.01) / (1 + load))
  }
  return firstThenRest(roulette(weights, r), nodes.length)
}

/**
 * `softmax_top_k`: within the first `topK` nodes, weight `exp((score − max score) / τ)` and sample one by `r`;
 * the others keep their order. Subtracting the maximum keeps every weight in (0, 1], so a small τ cannot overflow.
 */
export function softmaxTopKOrder(nodes: readonly Scored[], r: number, topK: number, tau: number): number[] {
  const pool = Math.min(topK, nodes.length)
  if (pool === 0) return []
  let max = -Infinity
  for (let i = 0; i < pool; i++) max = Math.max(max, (nodes[i] as Scored).score)
  const weights: number[] = []
  for (let i = 0; i < pool; i++) weights.push(Math.exp(((nodes[i] as Scored).score - max) / tau))
  return firstThenRest(roulette(weights, r), nodes.length)
}

/**
 * Order candidates (already in directory order) by a strategy; returns indices. `deterministic` keeps directory
 * order. `epsilon` explores with probability ε: one draw decides, a second picks uniformly among all candidates.
 */
export function strategyOrder(
  nodes: readonly Scored[], strategy: RoutingStrategy | 'directory_order', params: StrategyParams, random: () => number,
): number[] {
  const n = nodes.length
  if (n <= 1) return n === 1 ? [0] : []
  switch (strategy) {
    case 'epsilon': {
      if (random() >= params.epsilon) return firstThenRest(0, n)
      return firstThenRest(Math.min(n - 1, Math.floor(random() * n)), n)
    }
    case 'softmax_top_k':
      return softmaxTopKOrder(nodes, random(), params.topK, params.softmaxTau)
    case 'weighted_v1':
      return weightedV1Order(nodes, random(), params.topK)
    case 'deterministic':
    case 'directory_order':
      return firstThenRest(0, n)
  }
}
