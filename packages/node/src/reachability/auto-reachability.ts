/**
 * `reachability: 'auto'` (sem §6.4; wire.md §6.1–6.2; official-sdks §4): run @iicp/nat's ladder once the
 * node listens, keep what it opened alive, and turn its tier into what the node does: register a verified
 * route (tiers 0, 1a, 1b, 1c), bind a relay (tier 3), or serve locally without a public claim (tier 4).
 *
 * Verification is the directory's own `GET /v1/probe` (a TCP connect from its side); where it is refused
 * or missing nothing counts as verified. Routes the ladder verified are registered without a declared NAT
 * type, so the directory's registration probe checks them a second time. Detection is skipped when the
 * directory itself is on loopback or a private network (a local mesh reaches the node directly) and when
 * the operator named a public endpoint (the registration probe is then the check).
 */
import { classifyHost } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { reachabilityManager } from '@iicp/nat'
import type { ReachabilityManager, ReachabilityManagerOptions, ReachabilityResult } from '@iicp/nat'
import type { Reachability } from '../options.js'
import type { TunnelStatus } from '../tunnel/tunnel-rung.js'
import { directoryProbe } from './directory-probe.js'

/** NAT detection options a node passes through to @iicp/nat (the node sets port, logger and signal). */
export type NatOptions = Omit<ReachabilityManagerOptions, 'port' | 'logger' | 'signal' | 'onLeaseLost'> & {
  /** Run the ladder even for a loopback or private directory (a lab network, a test). @default false */
  alwaysDetect?: boolean
}

/** What the ladder decided, as the node reports it (`reachability` event). */
export interface ReachabilityReport {
  /** @iicp/nat's tier; `tunnel` when the tunnel rung gave the route (sem §6.4 step 3); `skipped` when nothing ran. */
  tier: ReachabilityResult['tier'] | 'skipped' | 'tunnel'
  exposureMode: string | undefined
  endpoint: string | undefined
  tried: ReachabilityResult['tried']
  advice: string[]
  /** What the tunnel rung tried, when it ran (no verified direct route and a `tunnel` option). */
  tunnel?: TunnelStatus
}

/** What the node does next. */
export interface AutoReachabilityPlan {
  report: ReachabilityReport
  /** A verified route to register. */
  route?: Reachability
  /** Tier 3: bind a relay, pinned or elected. */
  relay?: { pinned: string | undefined }
  /** Tier 4: serve locally and register nothing. */
  localOnly: boolean
  /** Owns mappings and pinholes; closed with the node. */
  manager?: ReachabilityManager
}

function skipped(why: string): AutoReachabilityPlan {
  return { report: { tier: 'skipped', exposureMode: undefined, endpoint: undefined, tried: [{ step: 'auto_detect', outcome: 'skipped', detail: why }], advice: [] }, localOnly: false }
}

function directoryHostClass(directoryUrl: string): string {
  try {
    return classifyHost(new URL(directoryUrl).hostname)
  } catch {
    return 'reserved'
  }
}

/** Run the ladder for a node listening on `port`. Never throws for a NAT failure: tier 4 says it. */
export async function autoReachability(a: {
  port: number
  directoryUrl: string | null
  publicEndpoint: string | undefined
  nat: NatOptions
  timeoutMs: number
  logger: Logger
  signal: AbortSignal
  onLeaseLost: () => void
}): Promise<AutoReachabilityPlan> {
  if (a.publicEndpoint !== undefined) return skipped('an operator endpoint is set; the directory verifies it when the node registers')
  if (a.directoryUrl === null) return skipped('no directory: nothing to be reachable for')
  const cls = directoryHostClass(a.directoryUrl)
  if (cls !== 'public' && a.nat.alwaysDetect !== true) return skipped(`the directory is on a ${cls} address, so it reaches the node directly; NAT detection is for public directories`)
  const { alwaysDetect: _always, ...natOptions } = a.nat
  const probe = natOptions.verifyReachable === undefined ? directoryProbe(a.directoryUrl, a.timeoutMs) : undefined
  const manager = reachabilityManager({
    ...natOptions,
    port: a.port,
    logger: a.logger,
    signal: a.signal,
    ...(probe !== undefined ? { verifyReachable: (url: string, signal: AbortSignal) => probe.verify(url, signal) } : {}),
    onLeaseLost: a.onLeaseLost,
  })
  let result: ReachabilityResult
  try {
    result = await manager.start()
  } finally {
    probe?.close()
  }
  const report: ReachabilityReport = { tier: result.tier, exposureMode: result.exposureMode, endpoint: result.endpoint, tried: result.tried, advice: result.advice }
  if (result.endpoint !== undefined) {
    return {
      report,
      manager,
      localOnly: false,
      route: { publicEndpoint: result.endpoint, exposureMode: result.exposureMode, ...(result.transportMethod !== undefined ? { transportMethod: result.transportMethod } : {}) },
    }
  }
  if (result.tier === '3') return { report, manager, localOnly: false, relay: { pinned: result.relay?.endpoint } }
  return { report, manager, localOnly: true }
}
