/**
 * What this proves about the tunnel rung, with real processes and real HTTP on loopback only: a stand-in
 * `cloudflared` written by the test into a temp PATH dir prints a tunnel URL that leads, through a small
 * loopback "edge" the test runs, to the node; the node advertises it as `external_tunnel` only after the
 * dial-back found its own node id there, and the in-repo directory routes to it; a URL that reaches
 * another node is never advertised; a 429/1015 starts a 900 s cooldown that a second, independent rung
 * honours without spawning; two processes contending for the host-wide slot get exactly one; a crashed
 * holder's lock is taken over; an operator URL, ngrok's local API and a Tailscale Funnel come first;
 * cloudflared never outlives close(); an attached rung rebuilds a tunnel whose URL stops answering or whose
 * cloudflared exits, and the node re-registers the new URL. No test contacts a host other than 127.0.0.1.
 */
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import type { Logger } from '@iicp/protocol'
import { IicpNode, echo, tunnelOptionsFromEnv, tunnelRung } from '../src/index.js'
import type { NodeOptions, TunnelRungOptions } from '../src/index.js'
import { TunnelCreateGuard, tunnelGuardFiles } from '../src/tunnel/create-guard.js'
import { TRYCLOUDFLARE_URL } from '../src/tunnel/quick-tunnel.js'
import { detectTailscaleFunnel, pickNgrokTunnel, tunnelUrl } from '../src/tunnel/detect.js'
import { directory, discoveredEndpoints } from './support/directory.js'
import { call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const LOOPBACK_URL = /http:\/\/127\.0\.0\.1:\d+/
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'iicp-tunnel-'))
  cleanup.push(() => rm(d, { recursive: true, force: true }))
  await mkdir(join(d, 'bin'))
  return d
}

async function script(dir: string, name: string, body: string): Promise<void> {
  const p = join(dir, 'bin', name)
  await writeFile(p, `#!/bin/sh\n${body}\n`)
  await chmod(p, 0o755)
}

/** A stand-in cloudflared: logs its pid and args, tells the edge where to forward, prints `url`, stays up. */
function cloudflaredOk(dir: string, url: string): string {
  return [
    `echo "$$ $*" >> "${dir}/cloudflared.log"`,
    `printf '%s' "$4" > "${dir}/target"`,
    'echo "2026-11-26T12:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2',
    `echo "2026-11-26T12:00:01Z INF |  ${url}  |" >&2`,
    'exec sleep 120',
  ].join('\n')
}

/** A stand-in cloudflared refused by Cloudflare's rate limit. */
function cloudflaredRateLimited(dir: string): string {
  return [
    `echo "$$ $*" >> "${dir}/cloudflared.log"`,
    'echo "2026-11-26T12:00:00Z ERR Error unmarshaling QuickTunnel response: 429 Too Many Requests error code: 1015" >&2',
    'exit 1',
  ].join('\n')
}

async function invocations(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'cloudflared.log'), 'utf8').catch(() => '')
  return text.split('\n').filter((l) => l !== '')
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The loopback "edge": forwards every request to the URL in `<dir>/target`, like a tunnel would (502 while `down`). */
async function edge(dir: string, state: { down: boolean } = { down: false }): Promise<string> {
  const server: Server = createServer((req, res) => {
    if (state.down) {
      req.resume()
      res.writeHead(502)
      res.end()
      return
    }
    void readFile(join(dir, 'target'), 'utf8').then((target) => {
      const up = httpRequest(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      up.on('error', () => { res.writeHead(502); res.end() })
      req.pipe(up)
    }, () => { res.writeHead(502); res.end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A loopback server that claims to be some other node. */
async function impostor(): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ status: 'ok', node_id: 'someone-else' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function dir(): Promise<RunningDirectory> {
  const d = await directory()
  cleanup.push(() => d.close())
  return d
}

function rungFor(tmp: string, extra: TunnelRungOptions = {}): ReturnType<typeof tunnelRung> {
  const r = tunnelRung({ path: join(tmp, 'bin'), home: tmp, detectNgrok: false, detectTailscale: false, quickTunnelUrlPattern: LOOPBACK_URL, dialBackAttempts: 1, ...extra })
  cleanup.push(() => r.close())
  return r
}

async function startNode(extra: Partial<NodeOptions>): Promise<IicpNode> {
  const n = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), ...extra } as NodeOptions)
  cleanup.push(() => n.close())
  await n.serve()
  return n
}

describe('Quick Tunnel through a cloudflared on the PATH', () => {
  it('advertises the tunnel as external_tunnel after the dial-back, the directory routes to it, and close() ends cloudflared', async () => {
    const d = await dir()
    const tmp = await tempDir()
    const edgeUrl = await edge(tmp)
    await script(tmp, 'cloudflared', cloudflaredOk(tmp, edgeUrl))
    const rung = rungFor(tmp)
    const node = await startNode({ directoryUrl: d.apiUrl, reachability: rung.resolve })

    expect(node.endpoint).toBe(edgeUrl)
    expect(rung.status()).toEqual({ source: 'quick_tunnel', url: edgeUrl, tried: [{ step: 'quick_tunnel', outcome: 'used' }], rebuilds: 0 })
    const calls = await invocations(tmp)
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatch(new RegExp(` tunnel --no-autoupdate --url http://127\\.0\\.0\\.1:${node.port}$`))
    expect(await discoveredEndpoints(d)).toEqual([edgeUrl])
    const viaTunnel = await call(`${edgeUrl}/v1/task`, { body: chatTask() })
    expect(viaTunnel.status).toBe(200)
    expect((viaTunnel.json as { node_id: string }).node_id).toBe(node.nodeId)
    expect(await rung.guardState()).toMatchObject({ lastOutcome: 'created', lockHeldBy: undefined })

    const pid = Number(calls[0]?.split(' ')[0])
    expect(alive(pid)).toBe(true)
    await node.close()
    await rung.close()
    expect(alive(pid)).toBe(false)
  })

  it('never advertises a tunnel URL that reaches another node, and stops the cloudflared it started', async () => {
    const tmp = await tempDir()
    await script(tmp, 'cloudflared', cloudflaredOk(tmp, await impostor()))
    const rung = rungFor(tmp)
    const node = await startNode({ reachability: rung.resolve })
    expect(node.endpoint).toBe(node.url)
    expect(rung.status()).toMatchObject({ source: undefined, url: undefined, tried: [{ step: 'quick_tunnel', outcome: 'unverified' }] })
    const pid = Number((await invocations(tmp))[0]?.split(' ')[0])
    expect(alive(pid)).toBe(false)
    expect((await rung.guardState()).lastOutcome).toBe('failed')
  })

  it('falls through with "absent" when no cloudflared is on the PATH, and with "skipped" when IICP_TUNNEL=0', async () => {
    const tmp = await tempDir()
    const local = { host: '127.0.0.1', port: 1, url: 'http://127.0.0.1:1', signal: new AbortController().signal }
    expect(await rungFor(tmp).resolve(local)).toBeUndefined()
    await script(tmp, 'cloudflared', cloudflaredOk(tmp, 'http://127.0.0.1:1'))
    const off = rungFor(tmp, tunnelOptionsFromEnv({ IICP_TUNNEL: '0' }))
    expect(await off.resolve(local)).toBeUndefined()
    expect(off.status().tried).toEqual([{ step: 'quick_tunnel', outcome: 'skipped', detail: 'turned off (IICP_TUNNEL=0)' }])
    expect(await invocations(tmp)).toEqual([])
  })
})

describe('tunnel guardrails', () => {
  it('starts a 900 s cooldown on 429/1015 that an independent rung on the same host honours without spawning', async () => {
    const tmp = await tempDir()
    await script(tmp, 'cloudflared', cloudflaredRateLimited(tmp))
    const timers = new ManualTimers()
    const local = { host: '127.0.0.1', port: 1, url: 'http://127.0.0.1:1', signal: new AbortController().signal }
    const first = rungFor(tmp, { timers })
    expect(await first.resolve(local)).toBeUndefined()
    expect(first.status().tried[0]).toMatchObject({ step: 'quick_tunnel', outcome: 'rate_limited' })
    const cooldown = JSON.parse(await readFile(join(tmp, 'tunnel', 'rate-limit.json'), 'utf8')) as { cooldown_until_ms: number }
    expect(cooldown.cooldown_until_ms).toBe(timers.now() + 900_000)

    timers.advance(899_999)
    const second = rungFor(tmp, { timers })
    expect(await second.resolve(local)).toBeUndefined()
    expect(second.status().tried[0]).toMatchObject({ step: 'quick_tunnel', outcome: 'rate_limited' })
    expect(await invocations(tmp)).toHaveLength(1)

    timers.advance(1)
    const third = rungFor(tmp, { timers })
    await third.resolve(local)
    expect(await invocations(tmp)).toHaveLength(2)
  })

  it('spaces creations 120 s apart host-wide and refuses at once when told not to wait', async () => {
    const tmp = await tempDir()
    await script(tmp, 'cloudflared', cloudflaredRateLimited(tmp))
    const timers = new ManualTimers()
    const local = { host: '127.0.0.1', port: 1, url: 'http://127.0.0.1:1', signal: new AbortController().signal }
    await rungFor(tmp, { timers, rateLimitCooldownMs: 0 }).resolve(local)
    timers.advance(119_000)
    const early = rungFor(tmp, { timers, rateLimitCooldownMs: 0, waitForCapacity: false })
    await early.resolve(local)
    expect(early.status().tried[0]).toMatchObject({ step: 'quick_tunnel', outcome: 'refused' })
    expect(early.status().tried[0]?.detail).toMatch(/^spacing until /)
    expect(await invocations(tmp)).toHaveLength(1)
    timers.advance(1000)
    await rungFor(tmp, { timers, rateLimitCooldownMs: 0, waitForCapacity: false }).resolve(local)
    expect(await invocations(tmp)).toHaveLength(2)
  })

  it('gives exactly one of two processes contending in the same instant the creation slot', async () => {
    const tmp = await tempDir()
    const child = fileURLToPath(new URL('./support/tunnel-guard-child.ts', import.meta.url))
    const root = fileURLToPath(new URL('../../../', import.meta.url))
    const startAt = String(Date.now() + 2500)
    const run = (): Promise<{ ok: boolean; reason?: string }> => new Promise((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', child, tmp, startAt, 'created'], { cwd: root, timeout: 30_000 }, (err, stdout) => {
        if (err !== null) reject(err)
        else resolve(JSON.parse(stdout.trim()) as { ok: boolean; reason?: string })
      })
    })
    const results = await Promise.all([run(), run()])
    expect(results.filter((r) => r.ok)).toHaveLength(1)
    expect(['busy', 'spacing']).toContain(results.find((r) => !r.ok)?.reason)
    // And the reservation holds for this process too, well after both have exited.
    const guard = new TunnelCreateGuard({ ...tunnelGuardFiles(tmp), minIntervalMs: 120_000, leaseMs: 45_000, cooldownMs: 900_000, now: () => Date.now() })
    const third = await guard.acquire()
    expect(third).toMatchObject({ ok: false, reason: 'spacing' })
  })

  it('takes over the lock of a creator that died, but not of a live one inside its lease', async () => {
    const tmp = await tempDir()
    const files = tunnelGuardFiles(tmp)
    const guard = new TunnelCreateGuard({ ...files, minIntervalMs: 0, leaseMs: 45_000, cooldownMs: 900_000, now: () => Date.now() })
    await mkdir(join(tmp, 'tunnel'), { recursive: true })
    await writeFile(files.lockFile, JSON.stringify({ pid: process.pid, token: 'live', lease_until_ms: Date.now() + 45_000 }))
    expect(await guard.acquire()).toMatchObject({ ok: false, reason: 'busy' })
    expect((await guard.state()).lockHeldBy).toBe(process.pid)
    // A pid that cannot exist on Linux (above pid_max) stands for a crashed creator.
    await writeFile(files.lockFile, JSON.stringify({ pid: 2 ** 30, token: 'dead', lease_until_ms: Date.now() + 45_000 }))
    const slot = await guard.acquire()
    expect(slot.ok).toBe(true)
    if (slot.ok) await slot.release('created')
    await expect(readFile(files.lockFile, 'utf8')).rejects.toThrow()
  })
})

describe('tunnels already running on this host', () => {
  it('uses an operator tunnel URL first, after the dial-back, and never spawns cloudflared', async () => {
    const tmp = await tempDir()
    const edgeUrl = await edge(tmp)
    await script(tmp, 'cloudflared', cloudflaredOk(tmp, edgeUrl))
    let target: ((url: string) => Promise<void>) | undefined
    const rung = rungFor(tmp, { tunnelUrl: edgeUrl })
    target = (url) => writeFile(join(tmp, 'target'), url)
    const node = await startNode({
      reachability: async (local) => {
        await target?.(local.url)
        return rung.resolve(local)
      },
    })
    expect(node.endpoint).toBe(edgeUrl)
    expect(rung.status()).toEqual({ source: 'operator', url: edgeUrl, tried: [{ step: 'operator', outcome: 'used' }], rebuilds: 0 })
    expect(await invocations(tmp)).toEqual([])
  })

  it('refuses an operator tunnel URL that is not https (outside loopback) when the rung is built', () => {
    expect(() => tunnelRung({ tunnelUrl: 'http://tunnel.example' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => tunnelOptionsFromEnv({ IICP_TUNNEL_URL: 'ftp://x.example' })).toThrow(/IICP_TUNNEL_URL/)
    expect(tunnelUrl('https://a.trycloudflare.com/')).toBe('https://a.trycloudflare.com')
    expect(tunnelUrl('https://user:pw@a.example')).toBeUndefined()
  })

  it("asks ngrok's local API and uses the tunnel forwarding to this node's port", async () => {
    const tmp = await tempDir()
    const edgeUrl = await edge(tmp)
    let port = 0
    const api = createServer((req, res) => {
      res.writeHead(req.url === '/api/tunnels' ? 200 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ tunnels: [
        { public_url: 'https://someone-else.ngrok.app', config: { addr: 'http://localhost:1' } },
        { public_url: edgeUrl, config: { addr: `http://localhost:${port}` } },
      ] }))
    })
    api.listen(0, '127.0.0.1')
    await once(api, 'listening')
    cleanup.push(() => new Promise<void>((r) => api.close(() => r())))
    const rung = rungFor(tmp, { detectNgrok: true, ngrokApiUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}` })
    const node = await startNode({
      reachability: async (local) => {
        port = local.port
        await writeFile(join(tmp, 'target'), local.url)
        return rung.resolve(local)
      },
    })
    expect(node.endpoint).toBe(edgeUrl)
    expect(rung.status().source).toBe('ngrok')
    expect(pickNgrokTunnel({ tunnels: [{ public_url: 'http://203.0.113.9', config: { addr: '1' } }] }, 1)).toBeUndefined()
  })

  it('finds a Tailscale Funnel that proxies to this port in `tailscale funnel status --json`', async () => {
    const tmp = await tempDir()
    const status = {
      TCP: { '443': { HTTPS: true } },
      Web: {
        'box.tail1234.ts.net:443': { Handlers: { '/': { Proxy: 'http://127.0.0.1:9484' } } },
        'box.tail1234.ts.net:8443': { Handlers: { '/': { Proxy: 'http://127.0.0.1:9999' } } },
      },
      AllowFunnel: { 'box.tail1234.ts.net:443': true },
    }
    await script(tmp, 'tailscale', `[ "$1 $2 $3" = "funnel status --json" ] || exit 2\ncat <<'JSON'\n${JSON.stringify(status)}\nJSON`)
    const env = { PATH: join(tmp, 'bin') }
    expect(await detectTailscaleFunnel(9484, env, 5000)).toBe('https://box.tail1234.ts.net')
    // Not funnelled (only served on the tailnet): not a public route.
    expect(await detectTailscaleFunnel(9999, env, 5000)).toBeUndefined()
    expect(await detectTailscaleFunnel(9484, { PATH: join(tmp, 'nowhere') }, 5000)).toBeUndefined()
  })
})

describe('tunnel options', () => {
  it('reads the official environment names', () => {
    expect(tunnelOptionsFromEnv({
      TUNNEL_URL: 'https://t.example', IICP_TUNNEL: '1', IICP_HOME: '/h', PATH: '/bin',
      IICP_TUNNEL_CREATE_MIN_INTERVAL_S: '60', IICP_TUNNEL_CREATE_LEASE_S: '30', IICP_TUNNEL_RATE_LIMIT_COOLDOWN_S: '600',
      IICP_TUNNEL_CREATE_JITTER_MAX_S: '0', IICP_TUNNEL_WAIT_FOR_CAPACITY: '0', IICP_TUNNEL_CREATE_LOCK_FILE: '/l',
    })).toEqual({
      tunnelUrl: 'https://t.example', quickTunnel: true, home: '/h', path: '/bin', createMinIntervalMs: 60_000, createLeaseMs: 30_000,
      rateLimitCooldownMs: 600_000, createJitterMaxMs: 0, waitForCapacity: false, lockFile: '/l',
    })
  })

  it("recognises cloudflared's trycloudflare URL in its log output by default", () => {
    const line = '2026-11-26T12:00:01Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                 |'
    expect(TRYCLOUDFLARE_URL.exec(line)?.[0]).toBe('https://seasonal-deck-organisms-sf.trycloudflare.com')
  })
})

/** A stand-in cloudflared printing `first` on its first run and `later` afterwards. */
function cloudflaredSequence(dir: string, first: string, later: string): string {
  return [
    `n=$(cat "${dir}/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${dir}/count"`,
    `echo "$$ $*" >> "${dir}/cloudflared.log"`,
    `printf '%s' "$4" > "${dir}/target"`,
    `if [ "$n" = 1 ]; then u="${first}"; else u="${later}"; fi`,
    'echo "2026-11-26T12:00:01Z INF |  $u  |" >&2',
    'exec sleep 120',
  ].join('\n')
}

describe('Quick Tunnel watchdog', () => {
  it('rebuilds a Quick Tunnel whose public URL stops answering, and the node re-registers the new one', async () => {
    const d = await dir()
    const tmp = await tempDir()
    const a = { down: false }
    const edgeA = await edge(tmp, a)
    const edgeB = await edge(tmp)
    await script(tmp, 'cloudflared', cloudflaredSequence(tmp, edgeA, edgeB))
    const timers = new ManualTimers()
    const probes: Array<{ ok: boolean; failures: number }> = []
    let probed: (() => void) | undefined
    const logger: Logger = {
      debug: (obj, msg) => { if (msg === 'tunnel health probe') { probes.push(obj as { ok: boolean; failures: number }); probed?.() } },
      info: () => {}, warn: () => {}, error: () => {}, child: () => logger,
    }
    const rung = rungFor(tmp, { timers, logger, createMinIntervalMs: 0, createJitterMaxMs: 0, healthFailuresBeforeRebuild: 2 })
    const node = await startNode({ directoryUrl: d.apiUrl, timers, reachability: rung.resolve })
    rung.attach(node)
    expect(node.endpoint).toBe(edgeA)

    a.down = true
    const moved = new Promise<string>((resolve) => node.on('registered', (e) => { if (e.endpoint === edgeB) resolve(e.endpoint) }))
    // Two failed probes 30 s apart; the first alone must not rebuild.
    const firstProbe = new Promise<void>((resolve) => { probed = resolve })
    timers.advance(30_000)
    await firstProbe
    expect(probes).toEqual([{ ok: false, failures: 1 }])
    expect(await invocations(tmp)).toHaveLength(1)
    timers.advance(30_000)
    expect(await moved).toBe(edgeB)
    expect(node.endpoint).toBe(edgeB)
    expect(await discoveredEndpoints(d)).toEqual([edgeB])
    expect(rung.status()).toMatchObject({ source: 'quick_tunnel', url: edgeB, rebuilds: 1 })
    const pids = (await invocations(tmp)).map((l) => Number(l.split(' ')[0]))
    expect(pids).toHaveLength(2)
    expect(alive(pids[0] as number)).toBe(false)
    await node.close()
    await rung.close()
    expect(alive(pids[1] as number)).toBe(false)
  })

  it('rebuilds at once when cloudflared exits', async () => {
    const d = await dir()
    const tmp = await tempDir()
    const edgeA = await edge(tmp)
    const edgeB = await edge(tmp)
    await script(tmp, 'cloudflared', cloudflaredSequence(tmp, edgeA, edgeB))
    const rung = rungFor(tmp, { createMinIntervalMs: 0, createJitterMaxMs: 0 })
    const node = await startNode({ directoryUrl: d.apiUrl, reachability: rung.resolve })
    rung.attach(node)
    expect(node.endpoint).toBe(edgeA)
    const moved = new Promise<string>((resolve) => node.on('registered', (e) => { if (e.endpoint === edgeB) resolve(e.endpoint) }))
    const first = Number((await invocations(tmp))[0]?.split(' ')[0])
    process.kill(first, 'SIGTERM')
    expect(await moved).toBe(edgeB)
    expect(rung.status().rebuilds).toBe(1)
  })
})
