/**
 * The reachability ladder's tunnel rung (sem §6.4 step 3; wire.md §6.1–6.2; official-sdks §4.2 step 9,
 * §4.4): an operator-given tunnel URL first, then a tunnel already running on this host (ngrok's local
 * API, a Tailscale Funnel), then a Quick Tunnel through `cloudflared` on the PATH, paced host-wide by
 * {@link TunnelCreateGuard}. Every candidate must pass the dial-back before it is advertised as
 * `external_tunnel`; when none does, the resolver returns nothing and the node falls to the next rung.
 *
 * Use it as a node's `reachability` (`reachability: rung.resolve`) and close it after the node.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { IicpError, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { Reachability, ReachabilityResolver } from '../options.js'
import { realTimers } from '../timers.js'
import type { TimerHandle, Timers } from '../timers.js'
import {
  TUNNEL_CREATE_LEASE_MS, TUNNEL_CREATE_MIN_INTERVAL_MS, TUNNEL_RATE_LIMIT_COOLDOWN_MS, TunnelCreateGuard, tunnelGuardFiles,
} from './create-guard.js'
import type { TunnelGuardState } from './create-guard.js'
import { dialBack } from './dial-back.js'
import { NGROK_API_URL, detectNgrok, detectTailscaleFunnel, tunnelUrl } from './detect.js'
import { QuickTunnelError, findOnPath, startQuickTunnel } from './quick-tunnel.js'
import type { QuickTunnel } from './quick-tunnel.js'

/** Options of {@link tunnelRung}; {@link tunnelOptionsFromEnv} fills them from `IICP_*` variables. */
export interface TunnelRungOptions {
  /** An operator's tunnel URL (https; http only on loopback). Tried first. */
  tunnelUrl?: string
  /** Ask the ngrok agent on loopback. @default true */
  detectNgrok?: boolean
  /** The ngrok agent API; must be a loopback URL. @default 'http://127.0.0.1:4040' */
  ngrokApiUrl?: string
  /** Look for a Tailscale Funnel with `tailscale` from `path`. @default true */
  detectTailscale?: boolean
  /** Start a Quick Tunnel with `cloudflared` (`IICP_TUNNEL=0` turns it off). @default true */
  quickTunnel?: boolean
  /** PATH searched for `cloudflared` and `tailscale`; without it neither is looked for. */
  path?: string
  /** Explicit cloudflared executable (else searched on `path`). */
  cloudflaredPath?: string
  /** URL pattern in cloudflared's output. @default https://<name>.trycloudflare.com */
  quickTunnelUrlPattern?: RegExp
  /** How long cloudflared gets to print its URL. @default 20000 */
  quickTunnelStartTimeoutMs?: number
  /** State directory for the guard files (IICP_HOME). @default ~/.iicp */
  home?: string
  /** Guard file overrides (`IICP_TUNNEL_CREATE_LOCK_FILE`, `…_STATE_FILE`, `IICP_TUNNEL_RATE_LIMIT_STATE_FILE`). */
  lockFile?: string
  stateFile?: string
  rateLimitFile?: string
  /** `IICP_TUNNEL_CREATE_MIN_INTERVAL_S`. @default 120000 */
  createMinIntervalMs?: number
  /** `IICP_TUNNEL_CREATE_LEASE_S`. @default 45000 */
  createLeaseMs?: number
  /** `IICP_TUNNEL_RATE_LIMIT_COOLDOWN_S`. @default 900000 */
  rateLimitCooldownMs?: number
  /** `IICP_TUNNEL_CREATE_JITTER_MAX_S`: random extra wait so nodes sharing a host do not line up. @default 15000 */
  createJitterMaxMs?: number
  /** `IICP_TUNNEL_WAIT_FOR_CAPACITY`: wait out spacing or another creator's lease instead of giving up. @default true */
  waitForCapacity?: boolean
  /** Dial-back tries, their spacing and per-try timeout. @default 5, 2000, 5000 */
  dialBackAttempts?: number
  dialBackIntervalMs?: number
  dialBackTimeoutMs?: number
  /** Per-probe timeout for ngrok/tailscale. @default 2000 */
  detectTimeoutMs?: number
  /** Watchdog: how often an attached rung probes its Quick Tunnel's public `/iicp/health`. @default 30000 */
  healthIntervalMs?: number
  /** Watchdog: failed probes in a row before the tunnel is rebuilt (cloudflared exiting rebuilds at once). @default 2 */
  healthFailuresBeforeRebuild?: number
  /** Watchdog: first retry after a failed rebuild; doubles up to 300000. @default 30000 */
  rebuildBackoffMs?: number
  /**
   * Watchdog: what happens once `rebuildAttemptsBeforeDead` rebuilds in a row failed (`IICP_TUNNEL_DEAD_POLICY`,
   * official-sdks §4.4). `retry` keeps rebuilding with the backoff; `exit` stops and calls `onDead` (the CLI then
   * shuts the node down and exits 75 for a supervisor; the library never exits); `log-only` stops, logs and calls
   * `onDead`; `auto` is `exit` when `supervised`, else `retry`. @default 'auto'
   */
  deadPolicy?: TunnelDeadPolicy
  /** Running under a supervisor that restarts the process (`IICP_SUPERVISED=1`); only `deadPolicy: 'auto'` reads it. @default false */
  supervised?: boolean
  /** Failed rebuilds in a row after which the tunnel counts as dead (the official respawn cap). @default 3 */
  rebuildAttemptsBeforeDead?: number
  /** Called once when the tunnel is declared dead under the `exit` or `log-only` policy. */
  onDead?: (event: TunnelDeadEvent) => void
  timers?: Timers
  random?: () => number
  logger?: Logger
}

/** What the watchdog does with a tunnel it cannot rebuild (official-sdks §4.4 `IICP_TUNNEL_DEAD_POLICY`). */
export type TunnelDeadPolicy = 'auto' | 'retry' | 'exit' | 'log-only'

/** Passed to `onDead`. */
export interface TunnelDeadEvent {
  /** The policy in force (`auto` already resolved). */
  readonly policy: 'exit' | 'log-only'
  /** Failed rebuilds in a row. */
  readonly failedRebuilds: number
}

const DEAD_POLICIES: ReadonlySet<string> = new Set(['auto', 'retry', 'exit', 'log-only'])

/** Where the advertised tunnel came from. */
export type TunnelSource = 'operator' | 'ngrok' | 'tailscale' | 'quick_tunnel'

/** One step of the rung, for `iicp node status` / `iicp doctor`. */
export interface TunnelStep {
  readonly step: TunnelSource
  readonly outcome: 'used' | 'unverified' | 'absent' | 'skipped' | 'refused' | 'failed' | 'rate_limited'
  readonly detail?: string
}

/** What the rung decided. */
export interface TunnelStatus {
  readonly source: TunnelSource | undefined
  readonly url: string | undefined
  readonly tried: readonly TunnelStep[]
  /** Quick Tunnels the watchdog rebuilt since start. */
  readonly rebuilds: number
  /** Set once the watchdog gave the tunnel up (`exit` or `log-only` policy); nothing is rebuilt after that. */
  readonly dead?: true
}

/** What the watchdog re-advertises through: an {@link IicpNode} fits. */
export interface TunnelRouteTarget {
  readvertise(route: Reachability | undefined): Promise<void>
}

/** A tunnel rung bound to one node. */
export interface TunnelRung {
  /** The resolver to pass as a node's `reachability`. */
  readonly resolve: ReachabilityResolver
  /** The last decision. */
  status(): TunnelStatus
  /** What the host-wide guard files say. */
  guardState(): Promise<TunnelGuardState>
  /**
   * Watch the Quick Tunnel this rung started (official-sdks §4.4): probe its public `/iicp/health` every
   * `healthIntervalMs`; after `healthFailuresBeforeRebuild` failures, or at once when cloudflared exits,
   * start a new one (still paced host-wide) and re-advertise it through `target`. Idempotent.
   */
  attach(target: TunnelRouteTarget): void
  /** Stop a Quick Tunnel this rung started (idempotent). */
  close(): Promise<void>
}

function sleep(timers: Timers, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const h = timers.setTimeout(done, ms)
    function done(): void {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    function onAbort(): void {
      timers.clearTimeout(h)
      resolve()
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (!Number.isInteger(v) || v < 0) throw new IicpError('invalid_config', `option ${name} must be a whole number ≥ 0`)
  return v
}

/** Build the tunnel rung. Throws IicpError `invalid_config` on bad options. */
export function tunnelRung(options: TunnelRungOptions = {}): TunnelRung {
  const timers = options.timers ?? realTimers
  const random = options.random ?? Math.random
  const log = (options.logger ?? silentLogger).child({ component: 'iicp-node.tunnel' })
  const operatorUrl = options.tunnelUrl === undefined ? undefined : tunnelUrl(options.tunnelUrl)
  if (options.tunnelUrl !== undefined && operatorUrl === undefined) {
    throw new IicpError('invalid_config', 'option tunnelUrl must be an https URL (http only on a loopback host), without credentials or query')
  }
  const ngrokApiUrl = options.ngrokApiUrl ?? NGROK_API_URL
  const home = options.home ?? join(homedir(), '.iicp')
  const files = tunnelGuardFiles(home)
  const guard = new TunnelCreateGuard({
    lockFile: options.lockFile ?? files.lockFile,
    stateFile: options.stateFile ?? files.stateFile,
    rateLimitFile: options.rateLimitFile ?? files.rateLimitFile,
    minIntervalMs: positive('createMinIntervalMs', options.createMinIntervalMs, TUNNEL_CREATE_MIN_INTERVAL_MS),
    leaseMs: positive('createLeaseMs', options.createLeaseMs, TUNNEL_CREATE_LEASE_MS),
    cooldownMs: positive('rateLimitCooldownMs', options.rateLimitCooldownMs, TUNNEL_RATE_LIMIT_COOLDOWN_MS),
    now: () => timers.now(),
  })
  const jitterMaxMs = positive('createJitterMaxMs', options.createJitterMaxMs, 15_000)
  const minIntervalMs = positive('createMinIntervalMs', options.createMinIntervalMs, TUNNEL_CREATE_MIN_INTERVAL_MS)
  const leaseMs = positive('createLeaseMs', options.createLeaseMs, TUNNEL_CREATE_LEASE_MS)
  const detectTimeoutMs = positive('detectTimeoutMs', options.detectTimeoutMs, 2000)
  const dial = {
    attempts: Math.max(1, positive('dialBackAttempts', options.dialBackAttempts, 5)),
    intervalMs: positive('dialBackIntervalMs', options.dialBackIntervalMs, 2000),
    timeoutMs: positive('dialBackTimeoutMs', options.dialBackTimeoutMs, 5000),
    timers,
  }
  let tunnel: QuickTunnel | undefined
  let current: TunnelStatus = { source: undefined, url: undefined, tried: [], rebuilds: 0 }
  let local: { url: string; signal: AbortSignal } | undefined
  const healthIntervalMs = positive('healthIntervalMs', options.healthIntervalMs, 30_000)
  const failuresBeforeRebuild = Math.max(1, positive('healthFailuresBeforeRebuild', options.healthFailuresBeforeRebuild, 2))
  const backoffBaseMs = Math.max(1, positive('rebuildBackoffMs', options.rebuildBackoffMs, 30_000))
  if (options.deadPolicy !== undefined && !DEAD_POLICIES.has(options.deadPolicy)) {
    throw new IicpError('invalid_config', "option deadPolicy must be 'auto', 'retry', 'exit' or 'log-only'")
  }
  const deadPolicy = options.deadPolicy === undefined || options.deadPolicy === 'auto' ? (options.supervised === true ? 'exit' : 'retry') : options.deadPolicy
  const deadAfter = Math.max(1, positive('rebuildAttemptsBeforeDead', options.rebuildAttemptsBeforeDead, 3))
  const watch = { target: undefined as TunnelRouteTarget | undefined, timer: undefined as TimerHandle | undefined, failures: 0, backoffMs: backoffBaseMs, rebuilding: false, stopped: false, failedRebuilds: 0 }

  async function quick(localUrl: string, signal: AbortSignal, tried: TunnelStep[]): Promise<string | undefined> {
    if (options.quickTunnel === false) {
      tried.push({ step: 'quick_tunnel', outcome: 'skipped', detail: 'turned off (IICP_TUNNEL=0)' })
      return undefined
    }
    const exe = options.cloudflaredPath ?? (options.path === undefined ? undefined : await findOnPath('cloudflared', options.path))
    if (exe === undefined) {
      tried.push({ step: 'quick_tunnel', outcome: 'absent', detail: 'no cloudflared executable on the PATH' })
      return undefined
    }
    let slot = await guard.acquire()
    // Wait out spacing or another node's lease (never a rate-limit cooldown) when allowed to.
    for (let waits = 0; !slot.ok && slot.reason !== 'cooldown' && options.waitForCapacity !== false && waits < 3 && !signal.aborted; waits++) {
      const waitMs = Math.max(0, slot.retryAtMs - timers.now()) + Math.round(random() * jitterMaxMs)
      if (waitMs > minIntervalMs + leaseMs + jitterMaxMs) break
      log.info({ reason: slot.reason, waitMs }, 'waiting for the host-wide tunnel slot')
      await sleep(timers, waitMs, signal)
      slot = await guard.acquire()
    }
    if (!slot.ok) {
      tried.push({ step: 'quick_tunnel', outcome: slot.reason === 'cooldown' ? 'rate_limited' : 'refused', detail: `${slot.reason} until ${new Date(slot.retryAtMs).toISOString()}` })
      return undefined
    }
    let started: QuickTunnel
    try {
      started = await startQuickTunnel({
        executable: exe, localUrl, urlPattern: options.quickTunnelUrlPattern, timers, signal,
        timeoutMs: options.quickTunnelStartTimeoutMs,
      })
    } catch (err) {
      const rateLimited = err instanceof QuickTunnelError && err.rateLimited
      await slot.release(rateLimited ? 'rate_limited' : 'failed')
      tried.push({ step: 'quick_tunnel', outcome: rateLimited ? 'rate_limited' : 'failed', detail: err instanceof Error ? err.message : 'failed' })
      return undefined
    }
    if (!(await dialBack(started.url, localUrl, { ...dial, signal }))) {
      await started.close()
      await slot.release('failed')
      tried.push({ step: 'quick_tunnel', outcome: 'unverified', detail: 'the tunnel URL did not reach this node' })
      return undefined
    }
    await slot.release('created')
    tunnel = started
    // The node's shutdown signal ends the tunnel even if the caller forgets close().
    signal.addEventListener('abort', () => void started.close(), { once: true })
    void started.exited.then(() => {
      // The node shutting down also ends cloudflared; that is not a reason to build another one.
      if (tunnel === started && watch.target !== undefined && !watch.stopped && !signal.aborted) {
        log.warn({}, 'cloudflared exited: rebuilding the Quick Tunnel')
        void rebuild()
      }
    })
    tried.push({ step: 'quick_tunnel', outcome: 'used' })
    return started.url
  }

  async function verified(step: TunnelSource, url: string | undefined, localUrl: string, signal: AbortSignal, tried: TunnelStep[]): Promise<string | undefined> {
    if (url === undefined) {
      tried.push({ step, outcome: 'absent' })
      return undefined
    }
    if (await dialBack(url, localUrl, { ...dial, signal })) {
      tried.push({ step, outcome: 'used' })
      return url
    }
    tried.push({ step, outcome: 'unverified', detail: 'the URL did not reach this node' })
    return undefined
  }

  // `exposure_mode` takes ADR-043's class (`tunnel_required`); the reference directory refuses any other value with
  // a 422, and `external_tunnel` is a transport_method only (dir §3.1, §3.4).
  const routeOf = (url: string): Reachability => ({ publicEndpoint: url, transportMethod: 'external_tunnel', exposureMode: 'tunnel_required' })

  function schedule(ms: number): void {
    if (watch.stopped || watch.target === undefined || watch.timer !== undefined) return
    watch.timer = timers.setTimeout(() => {
      watch.timer = undefined
      void probe()
    }, ms)
  }

  async function probe(): Promise<void> {
    if (watch.stopped || local === undefined || local.signal.aborted) return
    const t = tunnel
    if (t === undefined) {
      await rebuild()
      return
    }
    const ok = await dialBack(t.url, local.url, { ...dial, attempts: 1, signal: local.signal })
    if (watch.stopped || tunnel !== t) return
    if (ok) {
      watch.failures = 0
    } else if (++watch.failures >= failuresBeforeRebuild) {
      log.warn({ failures: watch.failures }, 'Quick Tunnel stopped answering: rebuilding it')
      await rebuild()
      return
    }
    schedule(healthIntervalMs)
    log.debug({ ok, failures: watch.failures }, 'tunnel health probe')
  }

  async function rebuild(): Promise<void> {
    if (watch.rebuilding || watch.stopped || local === undefined || local.signal.aborted || watch.target === undefined) return
    watch.rebuilding = true
    try {
      const old = tunnel
      tunnel = undefined
      await old?.close()
      const tried: TunnelStep[] = []
      let url: string | undefined
      try {
        url = await quick(local.url, local.signal, tried)
      } catch (err) {
        tried.push({ step: 'quick_tunnel', outcome: 'failed', detail: err instanceof Error ? err.message : 'failed' })
      }
      current = { source: url === undefined ? undefined : 'quick_tunnel', url, tried, rebuilds: current.rebuilds + (url === undefined ? 0 : 1) }
      if (watch.stopped) return
      if (url === undefined) {
        watch.failedRebuilds++
        if (deadPolicy !== 'retry' && watch.failedRebuilds >= deadAfter) {
          declareDead(deadPolicy)
          return
        }
        const wait = watch.backoffMs
        watch.backoffMs = Math.min(300_000, watch.backoffMs * 2)
        schedule(wait)
        return
      }
      watch.failures = 0
      watch.failedRebuilds = 0
      watch.backoffMs = backoffBaseMs
      try {
        await watch.target.readvertise(routeOf(url))
      } catch (err) {
        // The node keeps retrying registration on its own schedule; the new route is already in place.
        log.warn({ code: (err as { code?: unknown }).code }, 're-advertising the rebuilt tunnel failed')
      }
      schedule(healthIntervalMs)
    } finally {
      watch.rebuilding = false
    }
  }

  /** Give the tunnel up: no more probes or rebuilds; the node keeps serving locally and decides what else to do. */
  function declareDead(policy: 'exit' | 'log-only'): void {
    watch.stopped = true
    current = { ...current, dead: true }
    log.error({ policy, failedRebuilds: watch.failedRebuilds }, policy === 'exit'
      ? 'the Quick Tunnel is dead (rebuilds keep failing): stopping so a supervisor can restart the node'
      : 'the Quick Tunnel is dead (rebuilds keep failing): no more attempts (IICP_TUNNEL_DEAD_POLICY=log-only)')
    try {
      options.onDead?.({ policy, failedRebuilds: watch.failedRebuilds })
    } catch (err) {
      log.warn({ code: (err as { code?: unknown }).code }, 'onDead threw')
    }
  }

  const resolve: ReachabilityResolver = async (here) => {
    local = { url: here.url, signal: here.signal }
    const tried: TunnelStep[] = []
    const done = (source: TunnelSource | undefined, url: string | undefined): Reachability | undefined => {
      current = { source, url, tried, rebuilds: current.rebuilds }
      log.info({ source, tried }, source === undefined ? 'no tunnel reaches this node' : 'tunnel verified')
      return url === undefined ? undefined : routeOf(url)
    }
    if (operatorUrl !== undefined) {
      const url = await verified('operator', operatorUrl, here.url, here.signal, tried)
      if (url !== undefined) return done('operator', url)
    }
    if (options.detectNgrok !== false) {
      const url = await verified('ngrok', await detectNgrok(here.port, ngrokApiUrl, detectTimeoutMs, here.signal), here.url, here.signal, tried)
      if (url !== undefined) return done('ngrok', url)
    }
    if (options.detectTailscale !== false && options.path !== undefined) {
      const url = await verified('tailscale', await detectTailscaleFunnel(here.port, { PATH: options.path }, detectTimeoutMs), here.url, here.signal, tried)
      if (url !== undefined) return done('tailscale', url)
    }
    let url: string | undefined
    try {
      url = await quick(here.url, here.signal, tried)
    } catch (err) {
      // An unwritable IICP_HOME or a spawn failure leaves this rung empty; the node falls to the next one.
      tried.push({ step: 'quick_tunnel', outcome: 'failed', detail: err instanceof Error ? err.message : 'failed' })
    }
    return done(url === undefined ? undefined : 'quick_tunnel', url)
  }

  return {
    resolve,
    status: () => current,
    guardState: () => guard.state(),
    attach(target) {
      if (watch.target !== undefined || watch.stopped) return
      watch.target = target
      if (current.source === 'quick_tunnel') schedule(healthIntervalMs)
    },
    close: async () => {
      watch.stopped = true
      if (watch.timer !== undefined) timers.clearTimeout(watch.timer)
      watch.timer = undefined
      const t = tunnel
      tunnel = undefined
      await t?.close()
    },
  }
}

function seconds(env: Readonly<Record<string, string | undefined>>, name: string): number | undefined {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return undefined
  if (!/^\d+$/.test(raw)) throw new IicpError('invalid_config', `environment variable ${name} must be whole seconds`)
  return Number(raw) * 1000
}

function flag(env: Readonly<Record<string, string | undefined>>, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new IicpError('invalid_config', `environment variable ${name} must be 1/0 or true/false`)
}

/**
 * Tunnel options from the official environment names (official-sdks §4.4–4.5): `IICP_TUNNEL_URL` /
 * `TUNNEL_URL` / `CLOUDFLARE_TUNNEL_URL`, `IICP_TUNNEL` (0 = no Quick Tunnel), `IICP_HOME`, `PATH`,
 * `IICP_TUNNEL_CREATE_MIN_INTERVAL_S`, `IICP_TUNNEL_CREATE_LEASE_S`, `IICP_TUNNEL_RATE_LIMIT_COOLDOWN_S`,
 * `IICP_TUNNEL_CREATE_JITTER_MAX_S`, `IICP_TUNNEL_WAIT_FOR_CAPACITY`, `IICP_TUNNEL_CREATE_LOCK_FILE`,
 * `IICP_TUNNEL_CREATE_STATE_FILE`, `IICP_TUNNEL_RATE_LIMIT_STATE_FILE`, `IICP_TUNNEL_DEAD_POLICY`
 * (`auto`|`retry`|`exit`|`log-only`) and `IICP_SUPERVISED` (what `auto` means).
 */
export function tunnelOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): TunnelRungOptions {
  const out: TunnelRungOptions = {}
  for (const name of ['IICP_TUNNEL_URL', 'TUNNEL_URL', 'CLOUDFLARE_TUNNEL_URL']) {
    const v = env[name]?.trim()
    if (v !== undefined && v !== '') {
      if (tunnelUrl(v) === undefined) throw new IicpError('invalid_config', `environment variable ${name} must be an https URL`)
      out.tunnelUrl = v
      break
    }
  }
  const quick = flag(env, 'IICP_TUNNEL')
  if (quick !== undefined) out.quickTunnel = quick
  if (env.PATH !== undefined) out.path = env.PATH
  const home = env.IICP_HOME?.trim()
  if (home !== undefined && home !== '') out.home = home
  const nums: Array<[string, keyof TunnelRungOptions]> = [
    ['IICP_TUNNEL_CREATE_MIN_INTERVAL_S', 'createMinIntervalMs'], ['IICP_TUNNEL_CREATE_LEASE_S', 'createLeaseMs'],
    ['IICP_TUNNEL_RATE_LIMIT_COOLDOWN_S', 'rateLimitCooldownMs'], ['IICP_TUNNEL_CREATE_JITTER_MAX_S', 'createJitterMaxMs'],
  ]
  for (const [name, key] of nums) {
    const ms = seconds(env, name)
    if (ms !== undefined) (out as Record<string, unknown>)[key] = ms
  }
  const wait = flag(env, 'IICP_TUNNEL_WAIT_FOR_CAPACITY')
  if (wait !== undefined) out.waitForCapacity = wait
  const dead = env.IICP_TUNNEL_DEAD_POLICY?.trim().toLowerCase().replace('_', '-')
  if (dead !== undefined && dead !== '') {
    if (!DEAD_POLICIES.has(dead)) throw new IicpError('invalid_config', "environment variable IICP_TUNNEL_DEAD_POLICY must be 'auto', 'retry', 'exit' or 'log-only'")
    out.deadPolicy = dead as TunnelDeadPolicy
  }
  const supervised = flag(env, 'IICP_SUPERVISED')
  if (supervised !== undefined) out.supervised = supervised
  const files: Array<[string, 'lockFile' | 'stateFile' | 'rateLimitFile']> = [
    ['IICP_TUNNEL_CREATE_LOCK_FILE', 'lockFile'], ['IICP_TUNNEL_CREATE_STATE_FILE', 'stateFile'], ['IICP_TUNNEL_RATE_LIMIT_STATE_FILE', 'rateLimitFile'],
  ]
  for (const [name, key] of files) {
    const v = env[name]?.trim()
    if (v !== undefined && v !== '') out[key] = v
  }
  return out
}
