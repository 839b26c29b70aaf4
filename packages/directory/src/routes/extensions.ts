/**
 * Optional extensions served minimally but for real: the SSRF-guarded reachability probe (dir §3.11,
 * cts DIR-PROBE-01/02), proxy telemetry (tel §2, cts DIR-TEL-01) and the credits endpoints, which
 * authenticate and then say the extension is not offered (dir §8; cts DIR-CRED-01..03).
 */
import { classifyHost, IicpError } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode, bearer, hashToken, sameHex } from '../credentials.js'
import { unroutableReason } from '../endpoint-rules.js'
import type { Reply, RequestContext } from '../http/route-table.js'

/** GET /v1/probe?host=&port= */
export async function probe(dir: DirectoryContext, ctx: RequestContext): Promise<Reply> {
  const wait = dir.limits.probe.hit(ctx.ip, dir.opts.clock())
  if (wait !== undefined) throw new IicpError('rate_limited', 'Too many probes', { retryAfterMs: wait })
  const rawHost = ctx.query.get('host')
  const rawPort = ctx.query.get('port') ?? '443'
  const fields: Record<string, string[]> = {}
  if (!rawHost) fields.host = ['host is required']
  const port = Number(rawPort)
  if (!Number.isInteger(port) || port < 1 || port > 65535) fields.port = ['port must be an integer from 1 to 65535']
  if (!rawHost || Object.keys(fields).length > 0) throw new IicpError('validation_error', 'Input validation failed', { fields })
  const host = rawHost.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  // Refused before any connection: loopback, private, link-local, reserved and local names.
  if (unroutableReason(host) !== undefined) {
    throw new IicpError('private_address', `Refusing to probe a non-public address (${classifyHost(host)})`, { status: 422 })
  }
  if (dir.opts.mode === 'local') {
    throw new IicpError('forbidden', 'External reachability probes are disabled on a local-mode directory')
  }
  const result = await dir.prober.tcp(host, port)
  if (!result.ok && result.reason.includes('outside the probe scope')) {
    throw new IicpError('private_address', 'Refusing to probe a non-public address', { status: 422 })
  }
  return { status: 200, body: { host, port, reachable: result.ok, reason: result.ok ? null : result.reason } }
}

/** POST /v1/telemetry — Bearer proxy_token (not node_token), body per tel §2. */
export function telemetry(dir: DirectoryContext, ctx: RequestContext): Reply {
  let token: string
  try {
    token = bearer(ctx)
  } catch {
    throw new IicpError('IICP-E032', 'Telemetry requires a proxy_token', { status: 401 })
  }
  const hash = hashToken(token)
  const reporter = dir.table.byProxyTokenHash(hash)
  if (!reporter || !sameHex(reporter.rec.proxy_token_hash, hash)) throw new IicpError('IICP-E032', 'Telemetry requires a valid proxy_token', { status: 401 })
  const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>
  const fields: Record<string, string[]> = {}
  if (typeof body.node_id !== 'string' || body.node_id.length === 0) fields.node_id = ['node_id is required']
  if (body.proxy_node_id !== reporter.id) fields.proxy_node_id = ['proxy_node_id must be the node the proxy_token was issued to']
  const latency = body.latency_ms_observed
  if (latency !== undefined && (typeof latency !== 'number' || !Number.isFinite(latency) || latency < 0)) fields.latency_ms_observed = ['must be a number ≥ 0']
  if (body.status !== undefined && body.status !== 'success' && body.status !== 'failure') fields.status = ['must be success or failure']
  if (Object.keys(fields).length > 0) throw new IicpError('validation_error', 'Input validation failed', { fields })
  const target = dir.table.get(body.node_id as string)
  if (!target) throw new IicpError('not_found', 'Node not found')
  if (typeof latency === 'number') {
    const prev = target.rec.observed_latency_ms
    // EMA α = 0.1 (tel §T4.2); the first report seeds it.
    target.rec.observed_latency_ms = prev === null ? latency : prev + 0.1 * (latency - prev)
    dir.table.touched(target, dir.opts.clock())
    dir.save(target)
  }
  return { status: 200, body: { recorded: true } }
}

/** /v1/credits/* — authenticated, then 404: this directory does not run a credit ledger. */
export function credits(dir: DirectoryContext, ctx: RequestContext): Reply {
  authenticateNode(ctx, dir.table)
  throw new IicpError('not_found', 'The credits extension is not offered by this directory')
}
