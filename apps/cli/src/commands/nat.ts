/**
 * `iicp nat detect`: walk @iicp/nat's reachability ladder once (sem §6.4; wire.md §6.1–6.2) and print the
 * tier, every rung tried and the operator advice; whatever it opened on the gateway is removed before it
 * returns. Verification is the directory's `GET /v1/probe`, dialing a short-lived listener on `--port`.
 * Also the NAT defaults of `iicp node serve`: detection on unless IICP_AUTO_DETECT_NAT=false.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ReachabilityResult } from '@iicp/nat'
import { directoryProbe } from '@iicp/node'
import type { IicpNode, NodeOptions } from '@iicp/node'
import { IicpError } from '@iicp/protocol'
import { envFlag } from '../env.js'
import { EXIT_OK } from '../exit.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'

/** Flags of `iicp nat detect`. */
export interface NatDetectFlags {
  directory: string
  port: number
  json?: boolean
}

/** The reachability options `iicp node serve` adds: NAT detection on by default, relay pins and relay hosting from the environment. */
export function natServeOptions(env: Readonly<Record<string, string | undefined>>): Pick<NodeOptions, 'reachability' | 'nat' | 'relay' | 'relayCapable'> {
  const out: Pick<NodeOptions, 'reachability' | 'nat' | 'relay' | 'relayCapable'> = { nat: { env } }
  if (envFlag(env, 'IICP_AUTO_DETECT_NAT') !== false) out.reachability = 'auto'
  const relay = env.IICP_RELAY_WORKER_ENDPOINT?.trim()
  if (relay) out.relay = { endpoint: relay }
  if (envFlag(env, 'IICP_RELAY_CAPABLE') === true) out.relayCapable = true
  return out
}

/** Print what `iicp node serve` learns about its reachability: the tier with its advice, and relay sessions. */
export function reportReachability(node: IicpNode, out: Output): void {
  node.on('reachability', (r) => {
    // A loopback or private directory needs no NAT traversal; saying so on every local start is noise.
    if (r.tier === 'skipped') return
    out.event({ event: 'reachability', tier: r.tier, exposure_mode: r.exposureMode ?? null, endpoint: r.endpoint ?? null, tried: r.tried, advice: r.advice },
      `${out.ce.cyan('◆')} reachability tier ${r.tier}${r.exposureMode !== undefined ? ` (${r.exposureMode})` : ''}${r.endpoint !== undefined ? ` → ${r.endpoint}` : ''}`)
    for (const line of r.advice) out.note(`  ${out.ce.yellow('advice:')} ${line}`)
  })
  node.on('relay_bound', (e) => out.event(
    { event: 'relay_bound', relay: e.relayUrl, relay_node_id: e.relayNodeId ?? null, reputation_score: e.reputationScore ?? null, endpoint: e.endpoint, transport: e.transport },
    `${out.ce.green('⇄')} reachable through relay ${e.relayNodeId ?? e.relayUrl}${e.reputationScore !== undefined ? ` (reputation ${e.reputationScore})` : ''} over ${e.transport}: ${e.endpoint}`,
  ))
  node.on('relay_lost', (e) => out.event({ event: 'relay_lost', relay: e.relayUrl, reason: e.reason }, `${out.ce.yellow('!')} relay session to ${e.relayUrl} ended (${e.reason})`))
}

/** A throwaway listener for the probe to dial: `/iicp/health` answers like a node's. */
async function listenFor(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","probe":"iicp nat detect"}')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new IicpError('invalid_config', `cannot listen on port ${port} for the reachability check (${err.code ?? 'error'}); pass --port`, { cause: err })))
    server.listen(port, '0.0.0.0', () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

const MARK = { ok: '✔', failed: '✗', skipped: '–' } as const

function human(out: Output, r: ReachabilityResult): string {
  const lines = [`${out.c.bold(`tier ${r.tier}`)} ${out.c.dim(`(${r.exposureMode})`)}${r.endpoint !== undefined ? ` → ${r.endpoint}` : ''}`]
  if (r.tier === '3') lines.push(r.relay?.endpoint !== undefined ? `serve through the relay ${r.relay.endpoint}` : 'serve through a relay the node elects from the directory')
  if (r.tier === '4') lines.push('serve locally; nothing is registered')
  lines.push('', out.c.bold('tried'))
  for (const t of r.tried) {
    const mark = t.outcome === 'ok' ? out.c.green(MARK.ok) : t.outcome === 'failed' ? out.c.red(MARK.failed) : out.c.dim(MARK.skipped)
    lines.push(`  ${mark} ${t.step}: ${t.detail}`)
  }
  if (r.advice.length > 0) {
    lines.push('', out.c.bold('advice'))
    for (const a of r.advice) lines.push(`  • ${a}`)
  }
  return lines.join('\n')
}

/** Run `iicp nat detect`. */
export async function natDetect(ctx: RunContext<NatDetectFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const env = ctx.io.env
  // Loaded here, not at the top: `iicp node serve` imports this module for natServeOptions alone.
  const { detectReachability, reachabilityOptionsFromEnv } = await import('@iicp/nat')
  const listener = await listenFor(flags.port)
  const probe = directoryProbe(flags.directory, 5000)
  const progress = out.progress('climbing the reachability ladder (public address, UPnP, NAT-PMP, IPv6)')
  let r: ReachabilityResult
  try {
    r = await detectReachability({
      port: listener.port,
      env,
      ...reachabilityOptionsFromEnv(env),
      verifyReachable: (url, signal) => probe.verify(url, signal),
    })
  } finally {
    progress.stop()
    probe.close()
    await listener.close()
  }
  out.result({
    tier: r.tier,
    exposure_mode: r.exposureMode,
    endpoint: r.endpoint ?? null,
    transport_method: r.transportMethod ?? null,
    relay: r.relay ?? null,
    wan_address: r.wanAddress ?? null,
    port: listener.port,
    tried: r.tried,
    advice: r.advice,
  }, () => human(out, r))
  return EXIT_OK
}
