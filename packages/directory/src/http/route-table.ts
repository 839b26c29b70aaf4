/** The route table's types: handlers take a parsed request and return a reply; server.ts does the I/O. */
import type { IncomingHttpHeaders } from 'node:http'

/** What a handler sees of one request. */
export interface RequestContext {
  readonly method: string
  /** Path without the query string. */
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** Parsed JSON body; `{}` when the request had none. */
  readonly body: unknown
  /** Client address (X-Forwarded-For only with trustProxy). */
  readonly ip: string
  /** The directory origin this request reached, e.g. `http://127.0.0.1:9480` (publicOrigin when set). */
  readonly origin: string
  /** Path parameter of a prefix route (e.g. the node id of /api/v1/node/{id}). */
  readonly param: string
}

/** A handler's answer: a JSON value, or an already-serialised JSON string for hot paths. */
export interface Reply {
  readonly status: number
  readonly body?: unknown
  readonly raw?: string
  readonly headers?: Readonly<Record<string, string>>
}

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>

/** One route. `prefix` routes match `path + '{param}'` with a non-empty param without slashes. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly path: string
  readonly prefix?: boolean
  readonly handler: Handler
}
