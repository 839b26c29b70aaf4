/**
 * What this proves about `IICP_TUNNEL_DEAD_POLICY` (official-sdks §4.4), with a real node, the in-repo directory, a
 * stand-in `cloudflared` written into a temp PATH dir and a loopback "edge", on a hand-driven clock: once the
 * watchdog's rebuilds fail `rebuildAttemptsBeforeDead` times in a row, `auto` under supervision (= `exit`) stops
 * and calls `onDead` (the CLI then exits 75; the library never exits), and not before the cap; `log-only` stops too
 * and schedules nothing more; `auto` without supervision (= `retry`) keeps rebuilding and never declares the tunnel
 * dead. `tunnelOptionsFromEnv` reads the policy and `IICP_SUPERVISED`, and refuses an unknown policy by name.
 * No test contacts a host other than 127.0.0.1.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo, tunnelOptionsFromEnv, tunnelRung } from '../src/index.js'
import type { NodeOptions, TunnelDeadEvent, TunnelRung, TunnelRungOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'
import { edge, invocations, script, tunnelHome } from './support/tunnel-fakes.js'

const EVENTUALLY = { timeout: 15_000 }
const LOOPBACK_URL = /http:\/\/127\.0\.0\.1:\d+/
const cleanup: Array<() => Promise<unknown>> = []
const onCleanup = (fn: () => Promise<unknown>): void => {
  cleanup.push(fn)
}
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A stand-in cloudflared whose first run serves `url` and stays up; every later run fails to reach the edge. */
function cloudflaredOnce(dir: string, url: string): string {
  return [
    `n=$(cat "${dir}/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${dir}/count"`,
    `echo "$$ $*" >> "${dir}/cloudflared.log"`,
    'if [ "$n" != 1 ]; then echo "2026-11-26T12:00:01Z ERR failed to request quick Tunnel: connection refused" >&2; exit 1; fi',
    `printf '%s' "$4" > "${dir}/target"`,
    `echo "2026-11-26T12:00:01Z INF |  ${url}  |" >&2`,
    'exec sleep 120',
  ].join('\n')
}

interface Setup {
  rung: TunnelRung
  timers: ManualTimers
  dead: TunnelDeadEvent[]
  tmp: string
}

/** A node advertising a Quick Tunnel from the stand-in, watched by an attached rung; then its cloudflared is killed. */
async function tunnelThatDies(extra: TunnelRungOptions): Promise<Setup> {
  const d: RunningDirectory = await directory()
  onCleanup(() => d.close())
  const tmp = await tunnelHome(onCleanup)
  const url = await edge(tmp, onCleanup)
  await script(tmp, 'cloudflared', cloudflaredOnce(tmp, url))
  const timers = new ManualTimers()
  const dead: TunnelDeadEvent[] = []
  const rung = tunnelRung({
    path: join(tmp, 'bin'), home: tmp, detectNgrok: false, detectTailscale: false, quickTunnelUrlPattern: LOOPBACK_URL,
    dialBackAttempts: 1, createMinIntervalMs: 0, createJitterMaxMs: 0, timers, onDead: (e) => dead.push(e), ...extra,
  })
  onCleanup(() => rung.close())
  const node = new IicpNode({ directoryUrl: d.apiUrl, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), reachability: rung.resolve } as NodeOptions)
  onCleanup(() => node.close())
  await node.serve()
  rung.attach(node)
  expect(node.endpoint).toBe(url)
  const first = Number((await invocations(tmp))[0]?.split(' ')[0])
  process.kill(first, 'SIGTERM')
  return { rung, timers, dead, tmp }
}

/** Wait until the rebuild that made the n-th cloudflared run has settled (its failure is recorded). */
async function failedRebuilds(s: Setup, n: number): Promise<void> {
  await expect.poll(async () => (await invocations(s.tmp)).length, EVENTUALLY).toBe(n + 1)
  await expect.poll(() => s.rung.status().tried.some((t) => t.step === 'quick_tunnel' && t.outcome === 'failed'), EVENTUALLY).toBe(true)
}

describe('IICP_TUNNEL_DEAD_POLICY', { timeout: 60_000 }, () => {
  it("auto under supervision is exit: onDead after the cap of failed rebuilds, not before, then nothing more", async () => {
    const s = await tunnelThatDies({ deadPolicy: 'auto', supervised: true, rebuildAttemptsBeforeDead: 2 })
    await failedRebuilds(s, 1)
    expect(s.dead).toEqual([])
    expect(s.rung.status().dead).toBeUndefined()
    // The next try comes on the watchdog's clock.
    s.timers.advance(300_000)
    await expect.poll(() => s.dead.length, EVENTUALLY).toBe(1)
    expect(s.dead).toEqual([{ policy: 'exit', failedRebuilds: 2 }])
    expect(s.rung.status()).toMatchObject({ source: undefined, url: undefined, dead: true })
    expect(await invocations(s.tmp)).toHaveLength(3)
    s.timers.advance(600_000)
    expect(s.timers.size).toBe(0)
  })

  it('log-only gives up after the cap, tells onDead, and schedules no further rebuild', async () => {
    const s = await tunnelThatDies({ deadPolicy: 'log-only', rebuildAttemptsBeforeDead: 1 })
    await expect.poll(() => s.dead.length, EVENTUALLY).toBe(1)
    expect(s.dead).toEqual([{ policy: 'log-only', failedRebuilds: 1 }])
    expect(s.rung.status().dead).toBe(true)
    s.timers.advance(600_000)
    expect(s.timers.size).toBe(0)
    expect(await invocations(s.tmp)).toHaveLength(2)
  })

  it('auto without supervision is retry: it keeps rebuilding past the cap and never declares the tunnel dead', async () => {
    const s = await tunnelThatDies({ rebuildAttemptsBeforeDead: 1 })
    await failedRebuilds(s, 1)
    s.timers.advance(300_000)
    await expect.poll(async () => (await invocations(s.tmp)).length, EVENTUALLY).toBe(3)
    await expect.poll(() => s.timers.size, EVENTUALLY).toBe(1)
    expect(s.dead).toEqual([])
    expect(s.rung.status().dead).toBeUndefined()
  })

  it('is read from the environment with IICP_SUPERVISED; an unknown policy is refused by name', () => {
    expect(tunnelOptionsFromEnv({ IICP_TUNNEL_DEAD_POLICY: 'log_only', IICP_SUPERVISED: '1' })).toEqual({ deadPolicy: 'log-only', supervised: true })
    expect(tunnelOptionsFromEnv({ IICP_TUNNEL_DEAD_POLICY: 'EXIT' })).toEqual({ deadPolicy: 'exit' })
    expect(() => tunnelOptionsFromEnv({ IICP_TUNNEL_DEAD_POLICY: 'panic' }))
      .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_TUNNEL_DEAD_POLICY') }))
    expect(() => tunnelRung({ deadPolicy: 'panic' as 'exit' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})
