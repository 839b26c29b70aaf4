/**
 * The node's route table (wire.md §2.1): `POST /v1/task`, `GET`/`HEAD /iicp/health`, `GET /metrics`, and CORS
 * preflight on every path. Routes are typed handlers returning data; only server.ts touches sockets.
 */
import type { TaskPipeline, RequestHeaders } from '../task-handler.js'
import type { NodeMetrics } from '../metrics.js'
import { JSON_HEADERS, jsonReply } from './render-error.js'
import type { HttpReply } from './render-error.js'

/** What a route sees of a request. */
export interface RouteRequest {
  readonly headers: RequestHeaders
  /** The body, read within the size limit, for routes with `readsBody`. */
  readonly body: Buffer | undefined
}

/** One route. */
export interface Route {
  readonly readsBody: boolean
  handle(req: RouteRequest): HttpReply | Promise<HttpReply>
}

/** path → method → route. */
export type RouteTable = ReadonlyMap<string, ReadonlyMap<string, Route>>

/** CORS preflight answer (core §3.1; reference-implementations §4). */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization, X-IICP-Consumer-Token, X-IICP-Version, X-IICP-Require-E2E, traceparent, tracestate',
  'access-control-max-age': '86400',
})

/** Build the route table for one node. */
export function nodeRoutes(deps: { pipeline: TaskPipeline; health: () => object; metrics: NodeMetrics }): RouteTable {
  const task: Route = { readsBody: true, handle: (req) => deps.pipeline.process(req.body ?? '', req.headers) }
  const health: Route = { readsBody: false, handle: () => jsonReply(200, deps.health(), JSON_HEADERS) }
  const metrics: Route = {
    readsBody: false,
    async handle() {
      const m = await deps.metrics.exposition()
      return { status: 200, body: m.body, headers: { 'content-type': m.contentType, 'access-control-allow-origin': '*' } }
    },
  }
  return new Map([
    ['/v1/task', new Map([['POST', task]])],
    // HEAD for monitoring probes: node:http sends GET's status and headers and drops the body for HEAD itself.
    ['/iicp/health', new Map([['GET', health], ['HEAD', health]])],
    ['/metrics', new Map([['GET', metrics]])],
  ])
}
