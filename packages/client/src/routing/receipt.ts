/**
 * The redacted routing receipt (wire.md §4.2 "SHOULD emit redacted receipt"; official-sdks.md §2.4): which
 * strategy and policy chose the serving node among how many eligible candidates, naming the node only by an
 * 8-character prefix. It carries no endpoint, token, prompt or result, so it is safe to log or export.
 */

/** Receipt format version, as the official SDKs write it. */
export const ROUTING_RECEIPT_VERSION = 'iicp-routing-receipt-v1'

/** A routing receipt; field names follow the official SDKs' receipt so receipts compare across SDKs. */
export interface RoutingReceipt {
  readonly receipt_version: typeof ROUTING_RECEIPT_VERSION
  /** The strategy, or `external_ranker/<strategy>/<picked|declined>` when a ranker was consulted. */
  readonly selection_profile: string
  /** The routing policy profile applied before selection. */
  readonly routing_policy: string
  /** Where the candidate list came from. */
  readonly route_source: 'ticket' | 'discover' | 'pinned'
  /** Candidates left after hard eligibility and the routing policy. */
  readonly eligible_candidate_count: number
  /** Candidates the routing policy or eligibility rules refused. */
  readonly refused_candidate_count: number
  /** First 8 characters of the serving node's id. */
  readonly selected_node_id_prefix: string
  /** The serving node's directory region (dir §3.4.1 allows receipts to record it). */
  readonly selected_region: string | null
  /** Consumer auth used toward the node: a directory consumer token, the configured token, or none. */
  readonly consumer_auth: 'consumer_token' | 'node_token' | 'none'
  /** What was redacted. */
  readonly redaction: 'node_id_prefix_only'
}

/** Build a frozen receipt. */
export function routingReceipt(r: Omit<RoutingReceipt, 'receipt_version' | 'redaction' | 'selected_node_id_prefix'> & { readonly nodeId: string }): RoutingReceipt {
  // Field by field rather than rest/spread: one receipt is built per task, and a fixed literal keeps one shape.
  return Object.freeze({
    receipt_version: ROUTING_RECEIPT_VERSION,
    selection_profile: r.selection_profile,
    routing_policy: r.routing_policy,
    route_source: r.route_source,
    eligible_candidate_count: r.eligible_candidate_count,
    refused_candidate_count: r.refused_candidate_count,
    selected_region: r.selected_region,
    consumer_auth: r.consumer_auth,
    selected_node_id_prefix: r.nodeId.slice(0, 8),
    redaction: 'node_id_prefix_only',
  })
}
