/**
 * The directory's working set: every node in memory, token-hash lookups, and per-intent (and
 * per-intent-and-region) indexes of the nodes discover may return, sorted by their base score so a
 * query takes the top `limit` without scoring or sorting everything (wire.md §1.5, sem §3).
 */
import type { Qos } from '@iicp/protocol'
import { allowsRemoteInference, creditCostMultiplier } from './node-policy.js'
import { baseScore, hasAvailabilityWindows, MIN_SCORE, modelScore, regionMatch, roundScore, SCORE_WEIGHTS } from './scoring.js'
import { SortedIndex } from './sorted-index.js'
import type { Ranked } from './sorted-index.js'
import type { NodeRecord } from './store/types.js'

/**
 * What a node's capabilities imply (intents served, models), shared by every node that registered the same
 * capabilities: meshes run many nodes of one SDK and model, and each would otherwise carry its own copy of
 * the objects, the model set and the intent list.
 */
export class CapabilityProfile {
  /** The capabilities as registered, frozen: records of every node with this profile point here. */
  readonly capabilities: ReadonlyArray<Readonly<Record<string, unknown>>>
  /** Distinct intents, in registration order. */
  readonly intents: readonly string[]
  readonly models: ReadonlySet<string>
  /** Nodes holding this profile; it is forgotten at zero. */
  refs = 0

  constructor(
    readonly key: string,
    capabilities: ReadonlyArray<Record<string, unknown>>,
  ) {
    const intents = new Set<string>()
    const models = new Set<string>()
    for (const c of capabilities) {
      if (typeof c.intent === 'string') intents.add(c.intent)
      if (Array.isArray(c.models)) for (const m of c.models) if (typeof m === 'string') models.add(m)
      deepFreeze(c)
    }
    this.capabilities = Object.freeze([...capabilities])
    this.intents = Object.freeze([...intents])
    this.models = models
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
  for (const v of Object.values(value)) deepFreeze(v)
  Object.freeze(value)
}

/**
 * A node plus what the directory derives from it. Kept small on purpose (a directory holds tens of
 * thousands): the per-view JSON cache and the challenges exist only once used, and whatever an index
 * needs to find the node again (intents, region, flags) is read from the record, which only `put`
 * replaces, and only after unlisting the node.
 */
export class LiveNode implements Ranked {
  readonly id: string
  rec: NodeRecord
  profile: CapabilityProfile
  indexedKey = 0
  /** In the discover indexes: available and heard from within the expiry window. */
  listed = false
  /** Cached wire fragments per view and intent, dropped whenever the record changes. */
  views: Map<string, readonly [string, string]> | undefined = undefined
  /** Challenges issued in the last two PONGs, newest first (a lost PONG must not fail the next answer). */
  challenges: readonly string[] | undefined = undefined

  constructor(rec: NodeRecord, profile: CapabilityProfile) {
    this.id = rec.node_id
    this.rec = rec
    this.profile = profile
  }

  /** Distinct intents of the capabilities. */
  get intents(): readonly string[] {
    return this.profile.intents
  }

  get models(): ReadonlySet<string> {
    return this.profile.models
  }

  /** Capabilities registered for one intent (the intent-relevant subset discover shows). */
  capabilitiesFor(intent: string): Array<Readonly<Record<string, unknown>>> {
    return this.profile.capabilities.filter((c) => c.intent === intent)
  }

  /** Remember a freshly issued challenge, keeping the previous one. */
  issueChallenge(challenge: string): void {
    const prev = this.challenges?.[0]
    this.challenges = prev === undefined ? [challenge] : [challenge, prev]
  }
}

/** Filters of one discover/ticket query (already validated). */
export interface NodeQuery {
  intent: string
  limit: number
  region?: string | undefined
  model?: string | undefined
  qos?: Qos | undefined
  minReputation?: number | undefined
  modality?: string | undefined
  relayCapable?: boolean | undefined
  /** dir §3.3: drop nodes whose `credit_cost_multiplier` exceeds this. */
  maxMultiplier?: number | undefined
  /** dir §3.3: drop nodes whose (wire-rounded) score is below this. */
  minQualityScore?: number | undefined
  /** dir §3.3: `true` keeps only `allow_remote_inference` nodes; `false` filters nothing. */
  cipCapable?: boolean | undefined
  /** Extra exclusion (ticket exclusions, node_id pinning). */
  skip?: ((node: LiveNode) => boolean) | undefined
}

/** A ranked query result. */
export interface ScoredNode {
  readonly node: LiveNode
  readonly score: number
}

const REGION_KEY_SEP = '\u0000'

/** The in-memory node table with its discover indexes. */
export class NodeTable {
  private readonly nodes = new Map<string, LiveNode>()
  private readonly byToken = new Map<string, LiveNode>()
  private readonly byProxyToken = new Map<string, LiveNode>()
  private readonly byIntent = new Map<string, SortedIndex<LiveNode>>()
  private readonly byIntentRegion = new Map<string, SortedIndex<LiveNode>>()
  /** Only nodes accepting CIP remote inference, so `cip_capable=true` stays a top-k walk when they are rare. */
  private readonly byIntentCip = new Map<string, SortedIndex<LiveNode>>()
  /** Capability profiles by their JSON, shared between nodes (see CapabilityProfile). */
  private readonly profiles = new Map<string, CapabilityProfile>()
  private listedRelays = 0
  private listedCount = 0

  constructor(
    private readonly expiryMs: number,
    private readonly probation: boolean,
  ) {}

  get size(): number {
    return this.nodes.size
  }

  /** Nodes discover can currently return (not counting ones that expired since the last prune). */
  get activeCount(): number {
    return this.listedCount
  }

  /** Whether any listed node can relay (discover's `relay_available`). */
  get relayAvailable(): boolean {
    return this.listedRelays > 0
  }

  /** Distinct capability profiles held (nodes registering identical capabilities share one). */
  get profileCount(): number {
    return this.profiles.size
  }

  get(nodeId: string): LiveNode | undefined {
    return this.nodes.get(nodeId)
  }

  byTokenHash(hash: string): LiveNode | undefined {
    return this.byToken.get(hash)
  }

  byProxyTokenHash(hash: string): LiveNode | undefined {
    return this.byProxyToken.get(hash)
  }

  values(): IterableIterator<LiveNode> {
    return this.nodes.values()
  }

  /**
   * Insert a new record or replace a node's record (registration, rotation, load from the store). The
   * record's capabilities are swapped for the shared, frozen copy of its profile.
   */
  put(rec: NodeRecord, now: number): LiveNode {
    const profile = this.acquire(rec.capabilities)
    rec.capabilities = profile.capabilities as Array<Record<string, unknown>>
    let node = this.nodes.get(rec.node_id)
    if (node) {
      // Unlist under the old record: its intents, region and flags are what the indexes hold.
      this.unlist(node)
      const old = node.rec
      if (old.token_hash !== rec.token_hash && this.byToken.get(old.token_hash) === node) this.byToken.delete(old.token_hash)
      if (old.proxy_token_hash !== rec.proxy_token_hash && this.byProxyToken.get(old.proxy_token_hash) === node) {
        this.byProxyToken.delete(old.proxy_token_hash)
      }
      this.release(node.profile)
      node.rec = rec
      node.profile = profile
      node.views = undefined
    } else {
      node = new LiveNode(rec, profile)
      this.nodes.set(rec.node_id, node)
    }
    this.byToken.set(rec.token_hash, node)
    this.byProxyToken.set(rec.proxy_token_hash, node)
    this.reindex(node, now)
    return node
  }

  /**
   * Re-rank a node after its record's load, availability, reputation or liveness changed in place
   * (heartbeat, telemetry). Anything an index is keyed by (intents, region, relay or CIP flags, tokens)
   * changes only through `put`.
   */
  touched(node: LiveNode, now: number): void {
    node.views = undefined
    this.reindex(node, now)
  }

  remove(nodeId: string): LiveNode | undefined {
    const node = this.nodes.get(nodeId)
    if (!node) return undefined
    this.unlist(node)
    const rec = node.rec
    if (this.byToken.get(rec.token_hash) === node) this.byToken.delete(rec.token_hash)
    if (this.byProxyToken.get(rec.proxy_token_hash) === node) this.byProxyToken.delete(rec.proxy_token_hash)
    this.release(node.profile)
    this.nodes.delete(nodeId)
    return node
  }

  isLive(node: LiveNode, now: number): boolean {
    return node.rec.last_seen + this.expiryMs > now
  }

  /** Re-rank nodes with declared availability windows: their score changes with the time of day. */
  refreshWindows(now: number): void {
    for (const node of this.nodes.values()) {
      if (node.listed && hasAvailabilityWindows(node.rec) && baseScore(node.rec, now) !== node.indexedKey) {
        node.views = undefined
        this.reindex(node, now)
      }
    }
  }

  /**
   * Unlist nodes whose heartbeat window passed (they stay revivable by a heartbeat) and return the ids
   * of dormant nodes older than `retentionMs`, which the caller deletes.
   */
  prune(now: number, retentionMs: number): string[] {
    const stale: string[] = []
    for (const node of this.nodes.values()) {
      if (this.isLive(node, now)) continue
      if (node.listed) this.unlist(node)
      if (node.rec.last_seen + this.expiryMs + retentionMs <= now) stale.push(node.id)
    }
    return stale
  }

  private acquire(capabilities: ReadonlyArray<Record<string, unknown>>): CapabilityProfile {
    const key = JSON.stringify(capabilities)
    let profile = this.profiles.get(key)
    if (!profile) {
      profile = new CapabilityProfile(key, capabilities)
      this.profiles.set(key, profile)
    }
    profile.refs++
    return profile
  }

  private release(profile: CapabilityProfile): void {
    if (--profile.refs === 0) this.profiles.delete(profile.key)
  }

  private reindex(node: LiveNode, now: number): void {
    const shouldList = node.rec.available && this.isLive(node, now)
    const key = baseScore(node.rec, now)
    if (node.listed && (!shouldList || key !== node.indexedKey)) this.unlist(node)
    if (shouldList && !node.listed) this.list(node, key)
  }

  private list(node: LiveNode, key: number): void {
    const rec = node.rec
    const cip = allowsRemoteInference(rec)
    node.indexedKey = key
    for (const intent of node.intents) {
      indexFor(this.byIntent, intent).insert(node)
      indexFor(this.byIntentRegion, intent + REGION_KEY_SEP + rec.region).insert(node)
      if (cip) indexFor(this.byIntentCip, intent).insert(node)
    }
    node.listed = true
    this.listedCount++
    if (rec.meta.relay_capable === true) this.listedRelays++
  }

  private unlist(node: LiveNode): void {
    if (!node.listed) return
    const rec = node.rec
    const cip = allowsRemoteInference(rec)
    for (const intent of node.intents) {
      dropFrom(this.byIntent, intent, node)
      dropFrom(this.byIntentRegion, intent + REGION_KEY_SEP + rec.region, node)
      if (cip) dropFrom(this.byIntentCip, intent, node)
    }
    node.listed = false
    this.listedCount--
    if (rec.meta.relay_capable === true) this.listedRelays--
  }

  private eligible(node: LiveNode, q: NodeQuery, now: number): boolean {
    const rec = node.rec
    if (!this.isLive(node, now)) return false
    if (this.probation && q.qos !== undefined) {
      if (q.qos === 'interactive' && rec.completed_tasks < 100) return false
      if (q.qos === 'realtime' && (rec.completed_tasks < 1000 || rec.reputation < 0.8)) return false
    }
    if (q.minReputation !== undefined && rec.reputation < q.minReputation) return false
    if (q.relayCapable !== undefined && (rec.meta.relay_capable === true) !== q.relayCapable) return false
    if (q.cipCapable === true && !allowsRemoteInference(rec)) return false
    if (q.maxMultiplier !== undefined && creditCostMultiplier(rec) > q.maxMultiplier) return false
    if (q.modality !== undefined && !servesModality(node, q.intent, q.modality)) return false
    if (q.skip?.(node)) return false
    return true
  }

  /** The top `limit` eligible nodes for a query, best first (score ≥ 0.1, rounded for the wire later). */
  select(q: NodeQuery, now: number): ScoredNode[] {
    const every = this.byIntent.get(q.intent)
    if (!every || every.size === 0 || q.limit <= 0) return []
    // The model score has a price term relative to every listed candidate, whatever the filters keep.
    if (q.model !== undefined) return this.selectByModel(every.items, q, now)
    const all = q.cipCapable === true ? this.byIntentCip.get(q.intent) : every
    if (!all) return []
    const minQuality = q.minQualityScore ?? 0
    const out: ScoredNode[] = []
    if (q.region === undefined) {
      const bonus = SCORE_WEIGHTS.region * regionMatch('', undefined)
      for (const node of all.items) {
        if (out.length >= q.limit) break
        const score = node.indexedKey + bonus
        // The walk is in descending score order, so the first node below a threshold ends it.
        if (score < MIN_SCORE || roundScore(score) < minQuality) break
        if (this.eligible(node, q, now)) out.push({ node, score })
      }
      return out
    }
    // Region is a preference: merge the region's own list (+0.09) with everyone else (+0).
    const region = q.region
    const local = this.byIntentRegion.get(q.intent + REGION_KEY_SEP + region)?.items ?? []
    const others = all.items
    let i = 0
    let j = 0
    while (out.length < q.limit) {
      while (j < others.length && (others[j] as LiveNode).rec.region === region) j++
      const a = local[i]
      const b = others[j]
      if (!a && !b) break
      const sa = a ? a.indexedKey + SCORE_WEIGHTS.region : -1
      const sb = b ? b.indexedKey : -1
      const takeLocal = sa >= sb
      const node = (takeLocal ? a : b) as LiveNode
      const score = takeLocal ? sa : sb
      if (takeLocal) i++
      else j++
      if (score < MIN_SCORE || roundScore(score) < minQuality) break
      if (this.eligible(node, q, now)) out.push({ node, score })
    }
    return out
  }

  private selectByModel(items: readonly LiveNode[], q: NodeQuery, now: number): ScoredNode[] {
    // Model weights reorder the load/capacity terms, so no index order holds: keep a top-k while scanning.
    let cheapest = Infinity
    for (const node of items) cheapest = Math.min(cheapest, creditCostMultiplier(node.rec))
    const minQuality = q.minQualityScore ?? 0
    const top: ScoredNode[] = []
    for (const node of items) {
      const score = modelScore(node.rec, q.model !== undefined && node.models.has(q.model), q.region, cheapest, now)
      if (score < MIN_SCORE || roundScore(score) < minQuality) continue
      if (top.length === q.limit && score <= (top[top.length - 1] as ScoredNode).score) continue
      if (!this.eligible(node, q, now)) continue
      let k = top.length
      while (k > 0 && (top[k - 1] as ScoredNode).score < score) k--
      top.splice(k, 0, { node, score })
      if (top.length > q.limit) top.pop()
    }
    return top
  }
}

function indexFor(map: Map<string, SortedIndex<LiveNode>>, key: string): SortedIndex<LiveNode> {
  let idx = map.get(key)
  if (!idx) {
    idx = new SortedIndex<LiveNode>()
    map.set(key, idx)
  }
  return idx
}

function dropFrom(map: Map<string, SortedIndex<LiveNode>>, key: string, node: LiveNode): void {
  const idx = map.get(key)
  if (!idx) return
  idx.remove(node)
  if (idx.size === 0) map.delete(key)
}

function servesModality(node: LiveNode, intent: string, modality: string): boolean {
  for (const c of node.rec.capabilities) {
    if (c.intent !== intent) continue
    const mods = Array.isArray(c.input_modalities) ? c.input_modalities : ['text']
    if (mods.includes(modality)) return true
  }
  return false
}
