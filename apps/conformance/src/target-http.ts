/**
 * The runner's one HTTP path to targets (directory and node checks): a keep-alive undici Agent made once per
 * run, a per-request timeout, bodies read as text, redirects never followed (a check judges the first answer).
 */
import { Agent, request } from 'undici'

/** One answer as the checks see it. */
export interface TargetResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

/** What a check sends. */
export interface TargetRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown
  readonly signal?: AbortSignal
}

/** Thrown when the target could not be reached or did not answer in time (the spec's `request_failed`). */
export class TargetUnreachable extends Error {
  override readonly name = 'TargetUnreachable'
}

/** HTTP to the targets under check, with one connection pool for the run. */
export class TargetHttp {
  readonly #agent: Agent
  readonly #timeoutMs: number

  constructor(timeoutMs = 5_000) {
    this.#timeoutMs = timeoutMs
    this.#agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
  }

  /** Send one request; resolves with any HTTP status, rejects with TargetUnreachable on transport failure. */
  async send(req: TargetRequest): Promise<TargetResponse> {
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body)
    const headers: Record<string, string> = {
      accept: 'application/json', 'user-agent': 'iicp-conformance-ts', ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    }
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v
    const signal = req.signal ? AbortSignal.any([req.signal, AbortSignal.timeout(this.#timeoutMs * 2)]) : AbortSignal.timeout(this.#timeoutMs * 2)
    try {
      const res = await request(req.url, { method: req.method, headers, body, dispatcher: this.#agent, signal })
      const text = await res.body.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      const flat: Record<string, string | undefined> = {}
      for (const [k, v] of Object.entries(res.headers)) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      return { status: res.statusCode, headers: flat, text, json }
    } catch (err) {
      // The cause may quote the URL; the runner's output stays content-free, so only the class is kept.
      throw new TargetUnreachable('target request failed', { cause: err })
    }
  }

  /** Close the pool; idempotent. */
  async close(): Promise<void> {
    if (!this.#agent.closed && !this.#agent.destroyed) await this.#agent.close()
  }
}
