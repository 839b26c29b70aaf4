/**
 * The registration liveness probe `GET {endpoint}/iicp/health` (core §2.2 DIR-REG-04) and the external
 * reachability probe behind `/v1/probe` (dir §3.11), both SSRF-guarded: the host policy is checked on IP
 * literals before connecting and on every DNS answer through the socket's lookup, so a name cannot
 * rebind to a forbidden address.
 *
 * Built on node:http (already loaded for the server) rather than undici, which would cost every directory
 * about 15 MiB of resident memory for a few probes; node:https loads only when an https endpoint is probed.
 */
import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http'
import { connect } from 'node:net'
import { classifyHost } from '@iicp/protocol'
import type { HostClass } from '@iicp/protocol'
import { bareHost } from './endpoint-rules.js'

/** Which address classes a probe may reach. */
export type ProbeScope = 'loopback' | 'private' | 'any'

const PRIVATE_CLASSES: ReadonlySet<HostClass> = new Set<HostClass>(['loopback', 'private', 'link_local', 'cgnat'])

function allowedClass(scope: ProbeScope, cls: HostClass): boolean {
  if (scope === 'loopback') return cls === 'loopback'
  if (scope === 'private') return PRIVATE_CLASSES.has(cls)
  return cls === 'public'
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':')
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

function refused(host: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`probe of ${host} refused by policy`)
  err.code = 'EACCES'
  return err
}

/** A dns.lookup that only ever returns addresses the scope allows. */
function guardedLookup(scope: ProbeScope) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { family: options.family ?? 0, hints: options.hints ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      const ok = addresses.filter((a) => allowedClass(scope, classifyHost(a.address)))
      const first = ok[0]
      if (!first) return callback(refused(hostname), [])
      if (options.all) return callback(null, ok)
      return callback(null, first.address, first.family)
    })
  }
}

/** Outcome of one probe. */
export type ProbeResult = { ok: true } | { ok: false; reason: string }

type Send = (url: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest

/** node:https with its own non-keep-alive agent, loaded on the first https probe. */
interface TlsClient {
  readonly send: Send
  readonly agent: { destroy(): void }
}

/** Probes node endpoints within one address scope. */
export class EndpointProber {
  private readonly lookup: ReturnType<typeof guardedLookup>
  // Probes are rare and go to many hosts: no keep-alive, so a probed node never holds a directory socket.
  private readonly httpAgent = new HttpAgent({ keepAlive: false, maxSockets: 64 })
  private tls: Promise<TlsClient> | undefined

  constructor(
    private readonly scope: ProbeScope,
    private readonly timeoutMs: number,
  ) {
    this.lookup = guardedLookup(scope)
  }

  private tlsClient(): Promise<TlsClient> {
    this.tls ??= import('node:https').then((https) => {
      const agent = new https.Agent({ keepAlive: false, maxSockets: 64 })
      return { agent, send: (url, options, onResponse) => https.request(url, { ...options, agent }, onResponse) }
    })
    return this.tls
  }

  /** Whether the scope forbids this host outright (IP literals and names the scope never resolves). */
  refusal(host: string): string | undefined {
    if (isIpLiteral(host)) {
      const cls = classifyHost(host)
      return allowedClass(this.scope, cls) ? undefined : `address class ${cls} is outside the probe scope (${this.scope})`
    }
    // In loopback/private scope only `localhost` is resolved; other names would need outside DNS.
    if (this.scope !== 'any' && host !== 'localhost') return `host names other than localhost are outside the probe scope (${this.scope})`
    return undefined
  }

  /** `GET {endpoint}/iicp/health` must answer 2xx within the timeout. */
  async health(endpoint: string): Promise<ProbeResult> {
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      return { ok: false, reason: 'endpoint is not a URL' }
    }
    const why = this.refusal(bareHost(url))
    if (why) return { ok: false, reason: why }
    const base = url.href.endsWith('/') ? url.href : `${url.href}/`
    const target = new URL('iicp/health', base)
    const send: Send = target.protocol === 'https:'
      ? (await this.tlsClient()).send
      : (u, options, onResponse) => httpRequest(u, { ...options, agent: this.httpAgent }, onResponse)
    return new Promise<ProbeResult>((resolve) => {
      const options: RequestOptions = {
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'iicp-directory-liveness' },
        lookup: this.lookup as RequestOptions['lookup'],
        // One deadline for DNS, connect, TLS and the answer's head.
        signal: AbortSignal.timeout(this.timeoutMs),
      }
      let req: ClientRequest
      try {
        req = send(target, options, (res) => {
          const status = res.statusCode ?? 0
          // Only the status matters: drop the body and the connection.
          res.destroy()
          resolve(status >= 200 && status < 300 ? { ok: true } : { ok: false, reason: `health answered HTTP ${status}` })
        })
      } catch (err) {
        resolve({ ok: false, reason: unreachable(err) })
        return
      }
      req.on('error', (err) => resolve({ ok: false, reason: unreachable(err) }))
      req.end()
    })
  }

  /** A bare TCP connect (for /v1/probe). */
  tcp(host: string, port: number): Promise<ProbeResult> {
    const why = this.refusal(host)
    if (why) return Promise.resolve({ ok: false, reason: why })
    return new Promise((resolve) => {
      const socket = connect({ host, port, lookup: this.lookup, timeout: this.timeoutMs })
      const done = (r: ProbeResult): void => {
        socket.destroy()
        resolve(r)
      }
      socket.once('connect', () => done({ ok: true }))
      socket.once('timeout', () => done({ ok: false, reason: 'timeout' }))
      socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: err.code ?? 'error' }))
    })
  }

  async close(): Promise<void> {
    this.httpAgent.destroy()
    const tls = this.tls
    this.tls = undefined
    if (tls) (await tls).agent.destroy()
  }
}

function unreachable(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown }
  // An expired AbortSignal.timeout surfaces as an AbortError whose cause is a TimeoutError.
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return 'unreachable (timeout)'
  return typeof e.code === 'string' ? `unreachable (${e.code})` : 'unreachable'
}
