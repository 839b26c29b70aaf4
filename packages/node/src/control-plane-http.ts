/**
 * A small JSON-over-HTTP(S) client for the directory control plane, on node:http/node:https with one
 * keep-alive agent per node. The control plane sees a few requests a minute, so the node does not load
 * undici (about 14 MiB of resident memory) just for heartbeats; the consumer side keeps undici.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { IICP_VERSION_HEADER_VALUE, IicpError, SDK_VERSION, directoryApiUrl, errorFromResponse } from '@iicp/protocol'

export interface ControlPlaneResponse {
  readonly statusCode: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

/** Options of one directory call. */
export interface DirectoryCallOptions {
  token?: string
  nodeId?: string
  body?: unknown
  signal?: AbortSignal
}

const USER_AGENT = `iicp-typescript-node/${SDK_VERSION}`

/** Largest directory answer read; anything bigger is cut off as a broken peer. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024

export class ControlPlaneHttp {
  readonly #http = new HttpAgent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 4 })
  readonly #https = new HttpsAgent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 4 })

  constructor(private readonly timeoutMs: number) {}

  /** Send one request; rejects with the socket error (the caller maps it to IicpError). */
  send(url: string, method: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<ControlPlaneResponse> {
    const target = new URL(url)
    const isHttps = target.protocol === 'https:'
    const send = isHttps ? httpsRequest : httpRequest
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    return new Promise((resolve, reject) => {
      const req = send(target, { method, headers, agent: isHttps ? this.#https : this.#http, timeout: this.timeoutMs, signal }, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) res.destroy(new Error('directory answer too large'))
          else chunks.push(chunk)
        })
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      // 'timeout' fires on socket inactivity; the request must then fail rather than hang.
      req.on('timeout', () => req.destroy(new Error('directory request timed out')))
      req.on('error', reject)
      req.end(body)
    })
  }

  /**
   * One directory call: `path` under the directory's `/api` base, Bearer token and `X-Node-Id` when given, the
   * answer parsed as JSON. Every failure is an IicpError that carries the HTTP status the directory sent.
   */
  async callDirectory(directoryUrl: string, method: 'GET' | 'POST' | 'DELETE', path: string, opts: DirectoryCallOptions = {}): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT, 'x-iicp-version': IICP_VERSION_HEADER_VALUE }
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
    if (opts.nodeId !== undefined) headers['x-node-id'] = opts.nodeId
    let res: ControlPlaneResponse
    try {
      res = await this.send(directoryApiUrl(directoryUrl, path), method, headers, opts.body === undefined ? undefined : JSON.stringify(opts.body), opts.signal)
    } catch (err) {
      if (opts.signal?.aborted) throw new IicpError('aborted', 'Directory call aborted', { cause: err })
      throw new IicpError('connection_failed', 'Directory unreachable', { cause: err })
    }
    if (res.statusCode >= 300) {
      const e = errorFromResponse(res.statusCode, res.text, res.headers)
      throw e.status === res.statusCode ? e : new IicpError(e.code, e.message, { status: res.statusCode, fields: e.fields, retryAfterMs: e.retryAfterMs, retryable: e.retryable, cause: e })
    }
    try {
      return res.text === '' ? {} : (JSON.parse(res.text) as unknown)
    } catch (err) {
      throw new IicpError('invalid_response', 'Directory answered with invalid JSON', { cause: err })
    }
  }

  /** Drop pooled sockets. */
  close(): void {
    this.#http.destroy()
    this.#https.destroy()
  }
}
