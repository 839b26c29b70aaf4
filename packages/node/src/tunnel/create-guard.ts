/**
 * Host-wide pacing of tunnel creation (dir §3.1, §3.14; wire.md §6.2; official-sdks §4.4 Quick Tunnel):
 * every node on one machine shares a lock file and two state files under IICP_HOME, so together they
 * create at most one accountless tunnel per 120 s, a creator holds the lock for a 45 s lease (a crashed
 * one cannot block the host for longer), and after a 429 / Cloudflare 1015 nobody tries again for 900 s,
 * across restarts (SDK-NODE-03, SDK-NODE-04).
 *
 * An attempt reserves its slot in the state file right after taking the lock and before anything is
 * spawned, so spacing counts attempts, not successes: a failing tunnel cannot turn into a restart storm.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** Guardrail settings; the defaults are the spec's. */
export interface TunnelGuardOptions {
  /** Host-wide lock (`IICP_TUNNEL_CREATE_LOCK_FILE`). @default <home>/tunnel/create.lock */
  lockFile: string
  /** Last creation attempt (`IICP_TUNNEL_CREATE_STATE_FILE`). @default <home>/tunnel/create-state.json */
  stateFile: string
  /** Rate-limit cooldown (`IICP_TUNNEL_RATE_LIMIT_STATE_FILE`). @default <home>/tunnel/rate-limit.json */
  rateLimitFile: string
  /** `IICP_TUNNEL_CREATE_MIN_INTERVAL_S`. @default 120000 */
  minIntervalMs: number
  /** `IICP_TUNNEL_CREATE_LEASE_S`. @default 45000 */
  leaseMs: number
  /** `IICP_TUNNEL_RATE_LIMIT_COOLDOWN_S`. @default 900000 */
  cooldownMs: number
  /** Clock (epoch ms). */
  now: () => number
}

/** Spec defaults (dir §3.14). */
export const TUNNEL_CREATE_MIN_INTERVAL_MS = 120_000
export const TUNNEL_CREATE_LEASE_MS = 45_000
export const TUNNEL_RATE_LIMIT_COOLDOWN_MS = 900_000

/** Default guard files under an IICP_HOME. */
export function tunnelGuardFiles(home: string): Pick<TunnelGuardOptions, 'lockFile' | 'stateFile' | 'rateLimitFile'> {
  const dir = join(home, 'tunnel')
  return { lockFile: join(dir, 'create.lock'), stateFile: join(dir, 'create-state.json'), rateLimitFile: join(dir, 'rate-limit.json') }
}

/** Why creation may not start now. */
export type TunnelRefusal = 'cooldown' | 'spacing' | 'busy'

/** How an attempt ended. */
export type TunnelAttemptOutcome = 'created' | 'failed' | 'rate_limited'

/** A held creation slot. */
export interface TunnelCreateSlot {
  readonly ok: true
  /** Record the outcome (a rate limit starts the cooldown) and free the lock. Idempotent. */
  release(outcome: TunnelAttemptOutcome): Promise<void>
}

/** The answer to {@link TunnelCreateGuard.acquire}. */
export type TunnelAcquire = TunnelCreateSlot | { readonly ok: false; readonly reason: TunnelRefusal; readonly retryAtMs: number }

/** What the guard files say now (for `iicp doctor`). */
export interface TunnelGuardState {
  readonly lastAttemptAtMs: number | undefined
  readonly lastOutcome: string | undefined
  readonly cooldownUntilMs: number | undefined
  readonly lockHeldBy: number | undefined
}

interface LockBody {
  pid: number
  token: string
  lease_until_ms: number
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as unknown
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    // Missing or torn file: treated as no state; the lock and the reservation still pace creation.
    return undefined
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`
  await writeFile(tmp, JSON.stringify(value) + '\n', { mode: 0o600 })
  await rename(tmp, path)
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The shared guard; one instance per process is enough, but any number may share the files. */
export class TunnelCreateGuard {
  constructor(private readonly o: TunnelGuardOptions) {}

  /** Read the guard files without changing them. */
  async state(): Promise<TunnelGuardState> {
    const [s, r, l] = await Promise.all([readJson(this.o.stateFile), readJson(this.o.rateLimitFile), readJson(this.o.lockFile)])
    const lease = num(l?.lease_until_ms)
    const pid = num(l?.pid)
    return {
      lastAttemptAtMs: num(s?.last_attempt_at_ms),
      lastOutcome: typeof s?.last_outcome === 'string' ? s.last_outcome : undefined,
      cooldownUntilMs: num(r?.cooldown_until_ms),
      lockHeldBy: lease !== undefined && pid !== undefined && lease > this.o.now() && alive(pid) ? pid : undefined,
    }
  }

  private async blocked(now: number): Promise<{ reason: TunnelRefusal; retryAtMs: number } | undefined> {
    const [s, r] = await Promise.all([readJson(this.o.stateFile), readJson(this.o.rateLimitFile)])
    const cooldownUntil = num(r?.cooldown_until_ms)
    if (cooldownUntil !== undefined && cooldownUntil > now) return { reason: 'cooldown', retryAtMs: cooldownUntil }
    const last = num(s?.last_attempt_at_ms)
    if (last !== undefined && last + this.o.minIntervalMs > now) return { reason: 'spacing', retryAtMs: last + this.o.minIntervalMs }
    return undefined
  }

  private async lock(now: number): Promise<{ token: string } | { busyUntil: number }> {
    const token = randomUUID()
    const body: LockBody = { pid: process.pid, token, lease_until_ms: now + this.o.leaseMs }
    await mkdir(dirname(this.o.lockFile), { recursive: true, mode: 0o700 })
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.o.lockFile, JSON.stringify(body), { flag: 'wx', mode: 0o600 })
        return { token }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const held = await readJson(this.o.lockFile)
      const lease = num(held?.lease_until_ms)
      const pid = num(held?.pid)
      if (held === undefined) continue
      if (lease !== undefined && lease > now && pid !== undefined && alive(pid)) return { busyUntil: lease }
      // Lease over, or its holder died: take it over. A second contender doing the same in the same instant
      // still meets the reservation written below, so at most one of them spawns.
      await rm(this.o.lockFile, { force: true })
    }
    return { busyUntil: now + this.o.leaseMs }
  }

  private async unlock(token: string): Promise<void> {
    const held = await readJson(this.o.lockFile)
    if (held?.token === token) await rm(this.o.lockFile, { force: true })
  }

  /** Take the host-wide creation slot, or say why not and when to ask again. */
  async acquire(): Promise<TunnelAcquire> {
    const now = this.o.now()
    const before = await this.blocked(now)
    if (before !== undefined) return { ok: false, ...before }
    const got = await this.lock(now)
    if ('busyUntil' in got) return { ok: false, reason: 'busy', retryAtMs: got.busyUntil }
    // Another process may have created a tunnel between the first check and the lock.
    const after = await this.blocked(now)
    if (after !== undefined) {
      await this.unlock(got.token)
      return { ok: false, ...after }
    }
    await writeJson(this.o.stateFile, { last_attempt_at_ms: now, last_outcome: 'creating', pid: process.pid })
    let released = false
    return {
      ok: true,
      release: async (outcome) => {
        if (released) return
        released = true
        const at = this.o.now()
        await writeJson(this.o.stateFile, { last_attempt_at_ms: now, last_outcome: outcome, finished_at_ms: at, pid: process.pid })
        if (outcome === 'rate_limited') await writeJson(this.o.rateLimitFile, { cooldown_until_ms: at + this.o.cooldownMs, reason: 'rate_limited', recorded_at_ms: at })
        await this.unlock(got.token)
      },
    }
  }
}

/** Read the host-wide guard files under `home` (or the given paths) without changing them (`iicp doctor`). */
export function readTunnelGuard(files: { home: string; lockFile?: string; stateFile?: string; rateLimitFile?: string }, now: () => number = Date.now): Promise<TunnelGuardState> {
  const d = tunnelGuardFiles(files.home)
  return new TunnelCreateGuard({
    lockFile: files.lockFile ?? d.lockFile, stateFile: files.stateFile ?? d.stateFile, rateLimitFile: files.rateLimitFile ?? d.rateLimitFile,
    minIntervalMs: TUNNEL_CREATE_MIN_INTERVAL_MS, leaseMs: TUNNEL_CREATE_LEASE_MS, cooldownMs: TUNNEL_RATE_LIMIT_COOLDOWN_MS, now,
  }).state()
}
