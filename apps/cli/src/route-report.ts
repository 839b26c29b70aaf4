/**
 * How a task was served, for people and for `--json` (official-sdks §10.12 provenance): serving node,
 * endpoint, attempts, trace id and latency, plus the chat reply text when the result is a chat completion.
 */
import type { TaskResult } from '@iicp/client'
import type { Output } from './output.js'

/** The route of one task in wire-style names. */
export interface RouteReport {
  readonly node_id: string
  readonly endpoint: string
  readonly attempts: number
  readonly trace_id: string
  readonly latency_ms: number
  readonly route: 'direct' | 'relay'
  readonly route_source: string
  readonly model: string | null
  readonly encrypted: boolean
  /** HTTP, or the node's native `transport_endpoint` (IICP_TRANSPORT). */
  readonly transport: 'http' | 'native'
  /** The selection strategy the routing receipt names (IICP_ROUTING_STRATEGY). */
  readonly selection: string
  /** The routing policy profile applied before selection (IICP_ROUTING_POLICY). */
  readonly routing_policy: string
}

/** Collect the route facts of a finished task; `latencyMs` is measured by the caller around `submit()`. */
export function routeReport(result: TaskResult, latencyMs: number): RouteReport {
  return {
    node_id: result.nodeId,
    endpoint: result.endpoint,
    attempts: result.attempts,
    trace_id: result.traceId,
    latency_ms: Math.round(latencyMs * 10) / 10,
    route: result.route,
    route_source: result.routeSource,
    model: result.modelUsed ?? null,
    encrypted: result.encrypted,
    transport: result.transport,
    selection: result.receipt.selection_profile,
    routing_policy: result.receipt.routing_policy,
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `choices[0].message.content` of a chat completion, or `undefined` when the result is something else. */
export function chatReply(result: unknown): string | undefined {
  if (!isRecord(result) || !Array.isArray(result.choices)) return undefined
  const first: unknown = result.choices[0]
  if (!isRecord(first) || !isRecord(first.message)) return undefined
  const content = first.message.content
  return typeof content === 'string' ? content : undefined
}

/** The human "route" line. */
export function formatRoute(out: Output, r: RouteReport): string {
  const c = out.c
  const parts = [
    `${c.dim('node')} ${r.node_id}`,
    `${c.dim('at')} ${r.endpoint}`,
    `${c.dim('attempts')} ${r.attempts}`,
    `${c.dim('trace')} ${r.trace_id}`,
    `${c.dim('latency')} ${r.latency_ms} ms`,
  ]
  if (r.model !== null) parts.push(`${c.dim('model')} ${r.model}`)
  if (r.transport === 'native') parts.push(c.dim('(native transport)'))
  if (r.encrypted) parts.push(c.dim('(IICP-CX encrypted)'))
  return `${c.bold('route')}  ${parts.join('  ')}`
}
