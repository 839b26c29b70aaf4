/**
 * Candidate selection (wire.md §4.2; sem §1.4, §3.2; ncf §8): hard eligibility first (available, lists the
 * intent, endpoint security, IICP-CX key or plaintext opt-in, circuit breaker), then direct routes before relay
 * routes, then the selection strategy (routing/strategies.ts: deterministic, epsilon, softmax_top_k, weighted_v1)
 * picks the first candidate. Pure functions; randomness comes in.
 */
import type { CxPublicKey, NodeSummary } from '@iicp/protocol'
import { checkEndpoint } from './endpoint-security.js'
import type { SelectionStrategy } from './options.js'
import { DEFAULT_STRATEGY_PARAMS, strategyOrder } from './routing/strategies.js'

/** A node that may receive the task, with its dispatch coordinates precomputed. */
export interface Candidate {
  readonly nodeId: string
  readonly node: NodeSummary
  /** `scheme://host:port` for the dispatcher. */
  readonly origin: string
  /** Path of `POST {endpoint}/v1/task`. */
  readonly taskPath: string
  /** `relay` when the route goes through a relay (reachability tier or transport method say so). */
  readonly route: 'direct' | 'relay'
  /** The node's IICP-CX key, when it advertises one. */
  readonly cxKey: CxPublicKey | undefined
  /** The node advertised `response_encryption_v1`: a plaintext reply must be refused. */
  readonly responseEncryption: boolean
}

/** Why a node was left out. */
export type RefusalReason = 'unavailable' | 'intent_not_listed' | 'endpoint_refused' | 'cx_required' | 'breaker_open'

/** The outcome of selection: ordered candidates, and what was refused and why. */
export interface Selection {
  readonly candidates: readonly Candidate[]
  readonly refused: readonly { readonly nodeId: string; readonly reason: RefusalReason }[]
}

/** Inputs that do not change per call, plus the per-call breaker check. */
export interface SelectionPolicy {
  readonly intent: string
  readonly allowPrivateEndpoints: boolean
  readonly allowPlaintext: boolean
  readonly strategy: SelectionStrategy
  readonly topK: number
  /** `epsilon` exploration probability. @default 0.05 */
  readonly epsilon?: number
  /** `softmax_top_k` temperature. @default 0.04 */
  readonly softmaxTau?: number
  readonly random: () => number
  readonly breakerAllows: (nodeId: string) => boolean
  /**
   * The model the task asks for (dir §3.4 `model`). The directory only scores by it, so nodes that list other
   * models still come back; randomized strategies then explore among the nodes listing it (or listing no models),
   * and the rest stay behind them as fallbacks.
   */
  readonly model?: string | undefined
}

function isRelay(node: NodeSummary): boolean {
  return node.reachability_tier === 'relay' || node.transport_method === 'turn_relay'
}

/** Turn one node into a Candidate, or say why it is not eligible (breakers aside). */
export function toCandidate(node: NodeSummary, intent: string, allowPrivate: boolean, allowPlaintext: boolean): Candidate | RefusalReason {
  if (node.available !== true) return 'unavailable'
  if (node.capabilities && !node.capabilities.some((c) => c.intent === intent)) return 'intent_not_listed'
  if (!node.endpoint) return 'endpoint_refused'
  const ep = checkEndpoint(node.endpoint, allowPrivate)
  if (!ep.ok) return 'endpoint_refused'
  const cxKey = node.cx_public_key ?? undefined
  if (!cxKey && !allowPlaintext) return 'cx_required'
  return {
    nodeId: node.node_id ?? node.endpoint,
    node,
    origin: ep.origin,
    taskPath: `${ep.basePath}/v1/task`,
    route: isRelay(node) ? 'relay' : 'direct',
    cxKey,
    responseEncryption: cxKey?.features?.includes('response_encryption_v1') ?? false,
  }
}

export { weightedV1Order } from './routing/strategies.js'

/**
 * Whether the node may serve `model` for `intent`: it lists the model, or lists no models. Capabilities name the
 * models per intent; a ticketed route carries only the top-level `models` (the queried intent's, dir §3.4).
 * Selection puts such nodes ahead of the rest; callers that must not try the rest (a CLI `--model`) filter by it.
 */
export function mayServeModel(node: NodeSummary, intent: string, model: string): boolean {
  if (node.capabilities) {
    let listsOthers = false
    for (const c of node.capabilities) {
      if (c.intent !== intent) continue
      if (!Array.isArray(c.models) || c.models.length === 0 || c.models.includes(model)) return true
      listsOthers = true
    }
    return !listsOthers
  }
  const models = node.models
  return !Array.isArray(models) || models.length === 0 || models.includes(model)
}

// Route lists are cached and reused, so the per-node work (URL parsing, endpoint checks) is done once per node
// object and remembered here, per intent and per combination of the two flags that change the verdict (slot
// = allowPrivate*2 + allowPlaintext). Keyed by the intent string itself: no key is built per call.
const candidateCache = new WeakMap<NodeSummary, Map<string, (Candidate | RefusalReason | undefined)[]>>()

function cachedCandidate(node: NodeSummary, intent: string, allowPrivate: boolean, allowPlaintext: boolean): Candidate | RefusalReason {
  let perNode = candidateCache.get(node)
  if (!perNode) {
    perNode = new Map()
    candidateCache.set(node, perNode)
  }
  let slots = perNode.get(intent)
  if (!slots) {
    slots = [undefined, undefined, undefined, undefined]
    perNode.set(intent, slots)
  }
  const slot = (allowPrivate ? 2 : 0) + (allowPlaintext ? 1 : 0)
  let c = slots[slot]
  if (c === undefined) {
    c = toCandidate(node, intent, allowPrivate, allowPlaintext)
    slots[slot] = c
  }
  return c
}

/** Filter and order discovered nodes for one task. */
export function selectNodes(nodes: readonly NodeSummary[], policy: SelectionPolicy): Selection {
  const direct: Candidate[] = []
  const relay: Candidate[] = []
  const refused: { nodeId: string; reason: RefusalReason }[] = []
  for (const node of nodes) {
    const c = cachedCandidate(node, policy.intent, policy.allowPrivateEndpoints, policy.allowPlaintext)
    if (typeof c === 'string') {
      refused.push({ nodeId: node.node_id ?? node.endpoint ?? '?', reason: c })
      continue
    }
    if (!policy.breakerAllows(c.nodeId)) {
      refused.push({ nodeId: c.nodeId, reason: 'breaker_open' })
      continue
    }
    ;(c.route === 'direct' ? direct : relay).push(c)
  }
  let ordered = direct.length > 0 && relay.length > 0 ? [...direct, ...relay] : direct.length > 0 ? direct : relay
  if (ordered.length > 1 && policy.strategy !== 'deterministic' && policy.strategy !== 'directory_order') {
    // Exploring a node that lists only other models costs an attempt that can only end in IICP-E029.
    const model = policy.model
    let fallback: Candidate[] = []
    if (model !== undefined) {
      const serving = ordered.filter((c) => mayServeModel(c.node, policy.intent, model))
      if (serving.length > 0 && serving.length < ordered.length) {
        fallback = ordered.filter((c) => !serving.includes(c))
        ordered = serving
      }
    }
    if (ordered.length > 1) {
      const pool = ordered
      const idx = strategyOrder(pool.map((c) => c.node), policy.strategy, {
        topK: policy.topK,
        epsilon: policy.epsilon ?? DEFAULT_STRATEGY_PARAMS.epsilon,
        softmaxTau: policy.softmaxTau ?? DEFAULT_STRATEGY_PARAMS.softmaxTau,
      }, policy.random)
      if (idx[0] !== 0) ordered = idx.map((i) => pool[i] as Candidate)
    }
    if (fallback.length > 0) ordered = [...ordered, ...fallback]
  }
  return { candidates: ordered, refused }
}
