/**
 * The one request path (style.md "Servers and clients"): every directory and node call goes through undici's
 * `Dispatcher.request` on one keep-alive Agent per client, replies are validated with the protocol's schemas,
 * and undici failures become IicpError `connection_failed`, `timeout` or `aborted` (SDK-ERR-01): no raw undici
 * error ever leaves this file.
 */
import { lookup as dnsLookup } from 'node:dns'
import { isIP } from 'node:net'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import type { Cancellation } from './deadline.js'
import { IicpError, errorFromResponse, isIicpError, parseWire, safeParseWire } from '@iicp/protocol'
import { addressAllowed } from './endpoint-security.js'

/** Any protocol wire schema (a zod schema, typed through @iicp/protocol so this package needs no zod import). */
export type WireSchema = Parameters<typeof safeParseWire>[0]
/** The parsed value of a wire schema. */
export type WireOutput<S extends WireSchema> = ReturnType<typeof parseWire<S>>

/** Response headers as undici hands them over (lower-case names). */
export type ResponseHeaders = Record<string, string | string[] | undefined>

/** One outgoing request. `origin` is `scheme://host:port`; `path` starts with `/`. */
export interface HttpRequest {
  readonly origin: string
  readonly path: string
  readonly method: 'GET' | 'POST'
  readonly headers: Record<string, string>
  readonly body?: string | undefined
  readonly cancel: Cancellation
}

/** A buffered reply; headers are parsed on first access (the success path rarely needs them). */
export interface HttpResponse {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly text: string
}

const ENDPOINT_REFUSED = 'IICP_ENDPOINT_REFUSED'

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A resolver with `dns.lookup`'s `all: true` form (the system resolver unless a test or embedder gives another). */
export type HostLookup = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

const systemLookup: HostLookup = (hostname, options, callback) => {
  dnsLookup(hostname, options, (err, addresses) => callback(err, err ? [] : addresses))
}

/**
 * `guardedLookup` over another resolver: every answer must be public, or the connection fails with a refusal the
 * transport reports as `IICP-POLICY-ROUTING`.
 */
export function guardLookup(lookup: HostLookup): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, list) => {
      if (err) {
        callback(err, [])
        return
      }
      if (!addressAllowed(list.map((a) => a.address), false)) {
        const refused = Object.assign(new Error('endpoint resolves to a non-public address'), { code: ENDPOINT_REFUSED })
        callback(refused, [])
        return
      }
      if (options.all) callback(null, list)
      else callback(null, list[0]?.address ?? '', list[0]?.family)
    })
  }
}

/**
 * A DNS lookup for the connector that refuses names resolving to any non-public address, so the address that is
 * validated is the address that is dialled (endpoint-security profile: rebinding and mixed answers are refused).
 * Give it to an injected dispatcher's connector (`new Agent({ connect: { lookup: guardedLookup } })`) to keep that
 * guarantee there.
 */
export const guardedLookup: (hostname: string, options: LookupOptions, callback: LookupCallback) => void = guardLookup(systemLookup)

/** How long a host's address check is reused for requests through an injected dispatcher. */
export const HOST_CHECK_TTL_MS = 10_000
const HOST_CHECK_MAX_ENTRIES = 1024

function policyRefusal(): IicpError {
  return new IicpError('IICP-POLICY-ROUTING', 'Endpoint resolves to a non-public address')
}

/**
 * The address check for an injected dispatcher, which dials with its own resolver where `guardedLookup` cannot
 * sit: before a request goes out, its host is resolved here and every address must be public. Results are cached
 * per origin for {@link HOST_CHECK_TTL_MS}, so the common request costs one map lookup and concurrent misses share
 * one resolution. It checks what this resolver answers, not what the dispatcher dials: a dispatcher that resolves
 * differently, or turns TLS verification off, owns that policy.
 */
export class HostGuard {
  readonly #lookup: HostLookup
  readonly #now: () => number
  readonly #checked = new Map<string, { readonly ok: boolean; readonly until: number }>()
  readonly #pending = new Map<string, Promise<boolean>>()

  constructor(lookup: HostLookup = systemLookup, now: () => number = () => performance.now()) {
    this.#lookup = lookup
    this.#now = now
  }

  /** undefined when `origin` is known to be allowed; otherwise a promise that settles once it is checked (rejects with IicpError). */
  admit(origin: string, cancel: Cancellation): Promise<void> | undefined {
    const hit = this.#checked.get(origin)
    if (hit !== undefined && hit.until > this.#now()) return hit.ok ? undefined : Promise.reject(policyRefusal())
    let pending = this.#pending.get(origin)
    if (pending === undefined) {
      pending = this.#resolve(origin).finally(() => this.#pending.delete(origin))
      this.#pending.set(origin, pending)
    }
    const check = pending
    return new Promise<void>((resolve, reject) => {
      if (cancel.reason) {
        reject(cancel.reason)
        return
      }
      // A resolver that hangs must not outlive the caller's deadline.
      const unsubscribe = cancel.subscribe(reject)
      check.then((ok) => {
        unsubscribe()
        if (ok) resolve()
        else reject(policyRefusal())
      }, (err: unknown) => {
        unsubscribe()
        reject(toIicpError(err, cancel))
      })
    })
  }

  async #resolve(origin: string): Promise<boolean> {
    const host = new URL(origin).hostname.replace(/^\[|\]$/g, '')
    const addresses = isIP(host) !== 0 ? [host] : await new Promise<string[]>((resolve, reject) => {
      this.#lookup(host, { all: true }, (err, list) => (err ? reject(err) : resolve(list.map((a) => a.address))))
    })
    const ok = addressAllowed(addresses, false)
    if (this.#checked.size >= HOST_CHECK_MAX_ENTRIES) this.#checked.clear()
    this.#checked.set(origin, { ok, until: this.#now() + HOST_CHECK_TTL_MS })
    return ok
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') return code
  return errorCode((err as { cause?: unknown }).cause)
}

/** Map anything undici throws to an IicpError; the cancellation reason wins when ours fired. */
export function toIicpError(err: unknown, cancel: Cancellation): IicpError {
  if (cancel.reason) return cancel.reason
  if (isIicpError(err)) return err
  const code = errorCode(err)
  switch (code) {
    case ENDPOINT_REFUSED:
      return new IicpError('IICP-POLICY-ROUTING', 'Endpoint resolves to a non-public address', { cause: err })
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new IicpError('timeout', 'Node did not answer in time', { cause: err, retryable: true })
    case 'UND_ERR_ABORTED':
    case 'ABORT_ERR':
      return new IicpError('aborted', undefined, { cause: err })
    default:
      // Connect refusals, resets, closed sockets, DNS failures, TLS failures: the node could not be reached.
      return new IicpError('connection_failed', code ? `Connection failed (${code})` : 'Connection failed', { cause: err })
  }
}

/** Seams of the transport: the resolver its address checks use and the clock of their cache. */
export interface HttpTransportSeams {
  readonly lookup?: HostLookup | undefined
  readonly now?: (() => number) | undefined
}

/**
 * The HTTP layer of one client. Owns its Agent unless a dispatcher was injected. Without the private-endpoint
 * opt-in, the owned Agent dials through `guardedLookup`; an injected dispatcher, which dials by its own resolver,
 * gets a {@link HostGuard} check of each host before requests go out.
 */
export class HttpTransport {
  readonly #dispatcher: Dispatcher
  readonly #owned: Agent | undefined
  readonly #guard: HostGuard | undefined

  constructor(dispatcher: Dispatcher | undefined, allowPrivateEndpoints: boolean, seams: HttpTransportSeams = {}) {
    if (dispatcher) {
      this.#dispatcher = dispatcher
      this.#owned = undefined
      this.#guard = allowPrivateEndpoints ? undefined : new HostGuard(seams.lookup, seams.now)
    } else {
      // Keep-alive pooling; TLS verification stays on (rejectUnauthorized is never touched).
      this.#owned = new Agent({
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
        connect: allowPrivateEndpoints ? {} : { lookup: seams.lookup ? guardLookup(seams.lookup) : guardedLookup },
      })
      this.#dispatcher = this.#owned
      this.#guard = undefined
    }
  }

  /** The dispatcher every request goes through (a streaming reader needs it directly, after {@link admit}). */
  get dispatcher(): Dispatcher {
    return this.#dispatcher
  }

  /** For a request sent around {@link send}: undefined when it may go, else a promise that settles once checked. */
  admit(origin: string, cancel: Cancellation): Promise<void> | undefined {
    return this.#guard?.admit(origin, cancel)
  }

  /**
   * Send and buffer the whole reply. Throws IicpError only. Uses the dispatcher's handler interface directly
   * (no response stream, no AbortSignal): the cancellation calls undici's own abort function.
   */
  send(req: HttpRequest): Promise<HttpResponse> {
    const admitted = this.#guard?.admit(req.origin, req.cancel)
    return admitted === undefined ? this.#send(req) : admitted.then(() => this.#send(req))
  }

  #send(req: HttpRequest): Promise<HttpResponse> {
    const { cancel } = req
    if (cancel.reason) return Promise.reject(cancel.reason)
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false
      let abort: ((err?: Error) => void) | undefined
      let status = 0
      let rawHeaders: Buffer[] | string[] | null = null
      const chunks: Buffer[] = []
      const unsubscribe = cancel.subscribe((reason) => {
        abort?.(reason)
        finish(reason)
      })
      const finish = (err: IicpError | undefined): void => {
        if (settled) return
        settled = true
        unsubscribe()
        if (err) {
          reject(err)
          return
        }
        const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')
        resolve(new BufferedResponse(status, rawHeaders, text))
      }
      const handler: Dispatcher.DispatchHandler = {
        onConnect: (fn: (err?: Error) => void) => {
          abort = fn
          if (cancel.reason) fn(cancel.reason)
        },
        onHeaders: (statusCode: number, headers: Buffer[] | string[] | null) => {
          status = statusCode
          rawHeaders = headers
          return true
        },
        onData: (chunk: Buffer) => {
          chunks.push(chunk)
          return true
        },
        onComplete: () => finish(undefined),
        onError: (err: Error) => finish(toIicpError(err, cancel)),
      }
      try {
        this.#dispatcher.dispatch({
          origin: req.origin, path: req.path, method: req.method, headers: req.headers, body: req.body ?? null,
        }, handler)
      } catch (err) {
        finish(toIicpError(err, cancel))
      }
    })
  }

  /** Send; a 2xx JSON reply is parsed with `schema`, anything else becomes the node's/directory's IicpError. */
  async json<S extends WireSchema>(req: HttpRequest, schema: S): Promise<{ value: WireOutput<S>; response: HttpResponse }> {
    const response = await this.send(req)
    if (response.status < 200 || response.status >= 300) throw errorFromResponse(response.status, response.text, response.headers)
    return { value: parseJsonBody(response, schema), response }
  }

  /** Close the owned Agent (idle keep-alive sockets included). Idempotent; an injected dispatcher is left alone. */
  async close(): Promise<void> {
    if (this.#owned && !this.#owned.closed) await this.#owned.close()
  }
}

/** Parse a 2xx body as JSON and validate it; HTML, empty or off-schema bodies are `invalid_response`. */
export function parseJsonBody<S extends WireSchema>(response: HttpResponse, schema: S): WireOutput<S> {
  let data: unknown
  try {
    data = JSON.parse(response.text)
  } catch {
    throw new IicpError('invalid_response', `Peer answered HTTP ${response.status} with a body that is not JSON`, { status: response.status })
  }
  const parsed = safeParseWire(schema, data, 'invalid_response')
  if (!parsed.ok) throw parsed.error
  return parsed.value
}

/** A buffered reply whose raw header list is parsed into lower-case names only when read. */
class BufferedResponse implements HttpResponse {
  #raw: Buffer[] | string[] | null
  #parsed: ResponseHeaders | undefined
  constructor(readonly status: number, raw: Buffer[] | string[] | null, readonly text: string) {
    this.#raw = raw
  }

  get headers(): ResponseHeaders {
    if (!this.#parsed) {
      const out: ResponseHeaders = {}
      const raw = this.#raw ?? []
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]?.toString('latin1').toLowerCase() as string
        const value = raw[i + 1]?.toString('latin1') as string
        const prev = out[name]
        out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
      }
      this.#parsed = out
      this.#raw = null
    }
    return this.#parsed
  }
}

/** First value of a response header. */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
