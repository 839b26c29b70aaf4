/**
 * The registration liveness probe `GET {endpoint}/iicp/health` (core §2.2 DIR-REG-04) and the external
 * reachability probe behind `/v1/probe` (dir §3.11), both SSRF-guarded: the host policy is checked on IP
 * literals before connecting and on every DNS answer through the socket's lookup, so a name cannot
 * rebind to a forbidden address. One undici Agent serves every probe.
 */
import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { connect } from 'node:net'
import { classifyHost } from '@iicp/protocol'
import type { HostClass } from '@iicp/protocol'
import { Agent, request } from 'undici'
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

/** Probes node endpoints within one address scope. */
export class EndpointProber {
  private readonly agent: Agent
  private readonly lookup: ReturnType<typeof guardedLookup>

  constructor(
    private readonly scope: ProbeScope,
    private readonly timeoutMs: number,
  ) {
    this.lookup = guardedLookup(scope)
    this.agent = new Agent({
      connect: { timeout: timeoutMs, lookup: this.lookup },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 1,
      connections: 64,
    })
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
    try {
      const res = await request(new URL('iicp/health', base), {
        dispatcher: this.agent,
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'iicp-directory-liveness' },
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true }
      return { ok: false, reason: `health answered HTTP ${res.statusCode}` }
    } catch (err) {
      const code = (err as { code?: string }).code
      return { ok: false, reason: code ? `unreachable (${code})` : 'unreachable' }
    }
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
    await this.agent.close()
  }
}
