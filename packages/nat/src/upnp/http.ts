/**
 * The one HTTP path to a gateway (UPnP Device Architecture 2.0 §2 description, §3 control): undici
 * through a dispatcher the mapper owns, bounded bodies, and every failure as an IicpError.
 */
import { Agent, errors as undiciErrors, request } from 'undici'
import { IicpError, isIicpError } from '@iicp/protocol'

/** A gateway answer read into memory. */
export interface GatewayResponse {
  status: number
  contentType: string
  body: string
}

export interface GatewayRequest {
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  maxBytes: number
  signal?: AbortSignal | undefined
}

/** One keep-alive pool per mapper, so no request builds a client (hot-path rule). */
export function gatewayDispatcher(localAddress?: string): Agent {
  return new Agent({ keepAliveTimeout: 4_000, connections: 4, ...(localAddress ? { localAddress } : {}) })
}

/** Send one request to the gateway and read at most `maxBytes` of the answer. */
export async function gatewayFetch(dispatcher: Agent, url: string, init: GatewayRequest): Promise<GatewayResponse> {
  const timeout = AbortSignal.timeout(init.timeoutMs)
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout
  try {
    const res = await request(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      dispatcher,
      signal,
      headersTimeout: init.timeoutMs,
      bodyTimeout: init.timeoutMs,
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      const buf = chunk as Buffer
      size += buf.length
      if (size > init.maxBytes) {
        res.body.destroy()
        throw new IicpError('invalid_response', `Gateway answer from ${safeUrl(url)} exceeds ${init.maxBytes} bytes`)
      }
      chunks.push(buf)
    }
    const type = res.headers['content-type']
    return {
      status: res.statusCode,
      contentType: Array.isArray(type) ? (type[0] ?? '') : (type ?? ''),
      body: Buffer.concat(chunks).toString('utf8'),
    }
  } catch (err) {
    throw asGatewayError(err, url, init.signal, timeout)
  }
}

function asGatewayError(err: unknown, url: string, callerSignal: AbortSignal | undefined, timeout: AbortSignal): IicpError {
  if (isIicpError(err)) return err
  if (callerSignal?.aborted) return new IicpError('aborted', `Gateway request to ${safeUrl(url)} aborted`, { cause: err })
  if (timeout.aborted || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new IicpError('timeout', `Gateway at ${safeUrl(url)} did not answer in time`, { cause: err })
  }
  return new IicpError('connection_failed', `Could not reach the gateway at ${safeUrl(url)}`, { cause: err })
}

/** Gateway URLs carry no secrets, but keep only origin and path so a query never reaches a log. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return '<invalid url>'
  }
}
