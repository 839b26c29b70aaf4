/**
 * The `verifyReachable` hook a node gives @iicp/nat (sem §6.4: never advertise an unverified route): the
 * directory's external probe `GET /v1/probe?host=&port=` (dir §3.11; wire.md §1.9), a TCP connect made from
 * the directory's side of the internet. Only `{"reachable": true}` counts; a directory without the probe, a
 * refusal (403 local mode, 422 private address, 429) or any failure counts as not verified.
 */
import { IICP_VERSION_HEADER_VALUE, directoryApiUrl } from '@iicp/protocol'
import { ControlPlaneHttp } from '../control-plane-http.js'

/** A probe bound to one directory; `close()` releases its sockets. */
export interface DirectoryProbe {
  verify(url: string, signal: AbortSignal): Promise<boolean>
  close(): void
}

/** Create the probe for `directoryUrl` with a per-call timeout. */
export function directoryProbe(directoryUrl: string, timeoutMs: number): DirectoryProbe {
  const http = new ControlPlaneHttp(timeoutMs)
  return {
    async verify(url, signal) {
      try {
        const u = new URL(url)
        const host = u.hostname.replace(/^\[|\]$/g, '')
        const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80'
        const q = new URLSearchParams({ host, port })
        const res = await http.send(directoryApiUrl(directoryUrl, `/v1/probe?${q}`), 'GET', { accept: 'application/json', 'x-iicp-version': IICP_VERSION_HEADER_VALUE }, undefined, signal)
        if (res.statusCode !== 200) return false
        const body = JSON.parse(res.text) as unknown
        return typeof body === 'object' && body !== null && (body as { reachable?: unknown }).reachable === true
      } catch {
        // Unreachable directory or malformed answer: the route stays unverified, which is the safe side.
        return false
      }
    },
    close: () => http.close(),
  }
}
