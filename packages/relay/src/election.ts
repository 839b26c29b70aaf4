/**
 * Relay election from discover results (IICP-DIR §7.6, DIR-RELAY-05; official-sdks.md §5.6): pure functions so
 * the node can rank once and fail over down the list.
 */
import { createHash } from 'node:crypto'

/** IICP-DIR §7.6: never bind a relay whose reputation is below this floor. */
export const RELAY_MIN_REPUTATION = 0.1

/** The discover fields election reads (wire.md §1.4 NODELIST). */
export interface RelayCandidate {
  node_id: string
  endpoint: string
  relay_capable?: boolean | null
  reputation_score?: number | null
  load?: number | null
  probation?: boolean | null
}

/** Options of {@link rankRelays} and {@link electRelay}. */
export interface ElectRelayOptions {
  /** Relays not to pick: ones that just failed, or the worker itself. */
  excludeIds?: Iterable<string>
  /** The electing worker's id; seeds the tie-break so workers spread across equal relays. */
  selfId?: string
  /** Reputation floor. @default 0.1 (IICP-DIR §7.6) */
  minReputation?: number
}

function tieKey(selfId: string, nodeId: string): string {
  return createHash('sha256').update(`${selfId}:${nodeId}`).digest('hex')
}

/**
 * Eligible relays, best first: relay-capable, with an endpoint, reputation at or above the floor (a missing
 * reputation is not trusted), not excluded and not the worker itself; ordered by load (lowest first), then
 * non-probationary first, then higher reputation, then a stable per-worker hash.
 */
export function rankRelays<C extends RelayCandidate>(candidates: readonly C[], options: ElectRelayOptions = {}): C[] {
  const floor = options.minReputation ?? RELAY_MIN_REPUTATION
  const selfId = options.selfId ?? ''
  const excluded = new Set(options.excludeIds ?? [])
  if (options.selfId !== undefined) excluded.add(options.selfId)
  const eligible = candidates.filter((c) =>
    c.relay_capable === true &&
    typeof c.endpoint === 'string' && c.endpoint.length > 0 &&
    typeof c.reputation_score === 'number' && c.reputation_score >= floor &&
    !excluded.has(c.node_id))
  const keyed = eligible.map((c) => ({ c, load: typeof c.load === 'number' ? c.load : 0, tie: tieKey(selfId, c.node_id) }))
  keyed.sort((a, b) =>
    a.load - b.load ||
    Number(a.c.probation === true) - Number(b.c.probation === true) ||
    (b.c.reputation_score as number) - (a.c.reputation_score as number) ||
    (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0))
  return keyed.map((k) => k.c)
}

/** The best relay per {@link rankRelays}, or undefined when none is eligible. */
export function electRelay<C extends RelayCandidate>(candidates: readonly C[], options: ElectRelayOptions = {}): C | undefined {
  return rankRelays(candidates, options)[0]
}

/**
 * The path-scoped endpoint a worker registers (official-sdks.md §5.3): `${relayUrl}/v1/relay-for/${workerId}`,
 * registered with `transport_method: "turn_relay"` and `relay_endpoint: relayUrl`.
 */
export function relayEndpointFor(relayUrl: string, workerId: string): string {
  return `${relayUrl.replace(/\/+$/, '')}/v1/relay-for/${encodeURIComponent(workerId)}`
}
