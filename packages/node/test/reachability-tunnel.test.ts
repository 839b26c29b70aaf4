/**
 * What this proves: the tunnel rung is a rung of `reachability: 'auto'` (sem §6.4: operator endpoint → verified
 * direct/NAT route → accountless tunnel → relay → local only), against the in-repo directory on loopback, with a
 * stand-in `cloudflared` process and a loopback "edge" (test/support/tunnel-fakes.ts). When the NAT ladder finds
 * nothing, the node advertises a Quick Tunnel only after the dial-back reached it, as `transport_method:
 * external_tunnel` with ADR-043's `exposure_mode: tunnel_required`, and cloudflared ends with the node. A verified
 * direct route never starts a tunnel. A provider cooldown persisted on disk by an earlier run is honoured without
 * spawning, and the node falls through to a relay (SDK-NODE-03, -05); a tunnel the directory cannot reach is closed
 * and the node serves through a relay instead; a tunnel reaching another node is never
 * advertised; two nodes on one host starting together create one tunnel between them (SDK-NODE-04). Bad tunnel
 * options fail the constructor with invalid_config.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import type { MapRequest, PortMapper, PortMapping } from '@iicp/nat'
import { IicpNode, echo } from '../src/index.js'
import type { NatOptions, NodeOptions, ReachabilityReport, RelayBoundEvent, TunnelRungOptions } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'
import { alive, cloudflaredOk, edge, impostor, invocations, script, tunnelHome } from './support/tunnel-fakes.js'

const LOOPBACK_URL = /http:\/\/127\.0\.0\.1:\d+/
const cleanups: Array<() => Promise<unknown>> = []
const cleanup = (fn: () => Promise<unknown>): void => {
  cleanups.push(fn)
}
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function startDirectory(opts: Parameters<typeof directory>[0] = {}): Promise<RunningDirectory> {
  const d = await directory(opts)
  cleanup(() => d.close())
  return d
}

function node(opts: Partial<NodeOptions>): IicpNode {
  // No native accept port unless a test asks for one: the default 9485 is a fixed port this host may not have free.
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), backend: echo({ models: ['worker-model'] }), relayAcceptPort: false, ...opts } as NodeOptions)
  cleanup(() => n.close())
  return n
}

/** Tunnel rung options for a temp home whose `bin/` is the PATH; no ngrok/Tailscale lookups, no waiting. */
function tunnelIn(home: string, extra: TunnelRungOptions = {}): TunnelRungOptions {
  return {
    path: join(home, 'bin'), home, detectNgrok: false, detectTailscale: false, quickTunnelUrlPattern: LOOPBACK_URL,
    dialBackAttempts: 1, waitForCapacity: false, createJitterMaxMs: 0, ...extra,
  }
}

/** A gateway answering like a home router with the given WAN address. */
class FakeGateway implements PortMapper {
  readonly method = 'upnp' as const
  readonly mapped: PortMapping[] = []
  constructor(private readonly wan: string) {}
  async externalAddress(): Promise<string> {
    return this.wan
  }
  async map(req: MapRequest): Promise<PortMapping> {
    const m: PortMapping = {
      method: 'upnp', protocol: 'TCP', internalHost: '192.168.1.20', internalPort: req.internalPort, externalHost: this.wan,
      externalPort: 40123, leaseSeconds: 3600, expiresAt: Date.now() + 3_600_000, description: 'iicp node',
    }
    this.mapped.push(m)
    return m
  }
  async unmap(): Promise<void> {}
  async refresh(m: PortMapping): Promise<PortMapping> {
    return m
  }
  async close(): Promise<void> {}
}

/** NAT options for a host on a private LAN behind `gateway` (none: no UPnP/NAT-PMP at all → tier 4). */
function lan(gateway: PortMapper | undefined, verified: (url: string) => boolean): NatOptions {
  return {
    alwaysDetect: true,
    networkInterfaces: () => ({ eth0: [{ address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.20/24' }] }),
    detectContainer: async () => undefined,
    findGateway: async () => ({ mappers: gateway !== undefined ? [gateway] : [] }),
    verifyReachable: async (url) => verified(url),
  }
}

function report(n: IicpNode): Promise<ReachabilityReport> {
  return new Promise((resolve) => n.once('reachability', resolve))
}

describe("the tunnel rung of reachability: 'auto'", () => {
  it('advertises a dial-back-verified Quick Tunnel when no direct route exists, and ends cloudflared with the node', async () => {
    const d = await startDirectory()
    const home = await tunnelHome(cleanup)
    const edgeUrl = await edge(home, cleanup)
    await script(home, 'cloudflared', cloudflaredOk(home, edgeUrl))
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false), tunnel: tunnelIn(home) })
    const decided = report(n)
    await n.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: 'tunnel', exposureMode: 'tunnel_required', endpoint: edgeUrl })
    expect(r.tunnel).toEqual({ source: 'quick_tunnel', url: edgeUrl, tried: [{ step: 'quick_tunnel', outcome: 'used' }], rebuilds: 0 })
    expect(n.endpoint).toBe(edgeUrl)
    expect(n.isRegistered).toBe(true)
    expect(await nodeRecord(d, n.nodeId)).toMatchObject({ endpoint: edgeUrl, transport_method: 'external_tunnel', exposure_mode: 'tunnel_required' })
    const calls = await invocations(home)
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatch(new RegExp(` tunnel --no-autoupdate --url http://127\\.0\\.0\\.1:${n.port}$`))
    const pid = Number(calls[0]?.split(' ')[0])
    expect(alive(pid)).toBe(true)
    await n.close()
    expect(alive(pid)).toBe(false)
  })

  it('never starts a tunnel when the NAT ladder verified a direct route', async () => {
    const d = await startDirectory({ skipLivenessCheck: true })
    const home = await tunnelHome(cleanup)
    await script(home, 'cloudflared', cloudflaredOk(home, await edge(home, cleanup)))
    const gw = new FakeGateway('11.0.0.1')
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(gw, (url) => url === 'http://11.0.0.1:40123'), tunnel: tunnelIn(home) })
    const decided = report(n)
    await n.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: '1a', endpoint: 'http://11.0.0.1:40123' })
    expect(r.tunnel).toBeUndefined()
    expect(await invocations(home)).toEqual([])
  })

  it('honours a provider cooldown an earlier run persisted, spawns nothing, and falls through to a relay', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const home = await tunnelHome(cleanup)
    await script(home, 'cloudflared', cloudflaredOk(home, await edge(home, cleanup)))
    const timers = new ManualTimers()
    // What a previous process left after Cloudflare answered 429/1015 (dir §3.1: 900 s, persisted host-wide).
    await mkdir(join(home, 'tunnel'), { recursive: true })
    await writeFile(join(home, 'tunnel', 'rate-limit.json'), JSON.stringify({ cooldown_until_ms: timers.now() + 600_000, reason: 'rate_limited', recorded_at_ms: timers.now() - 300_000 }))
    const worker = node({ directoryUrl: d.apiUrl, timers, reachability: 'auto', nat: lan(new FakeGateway('100.64.3.9'), () => false), tunnel: tunnelIn(home) })
    const decided = report(worker)
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: '3', exposureMode: 'relay_required' })
    expect(r.tunnel?.tried).toEqual([expect.objectContaining({ step: 'quick_tunnel', outcome: 'rate_limited' })])
    expect(r.advice.join(' ')).toMatch(/cooling down/)
    expect(await bound).toMatchObject({ relayNodeId: relay.nodeId })
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}`, transport_method: 'turn_relay' })
    expect(await invocations(home)).toEqual([])
  })

  it('closes the tunnel and serves through a relay when the directory cannot reach the tunnel route', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const home = await tunnelHome(cleanup)
    // The edge carries the node's dial-back and then loses its route, so the directory's liveness probe gets a 502.
    const edgeUrl = await edge(home, cleanup, { forwardFirst: 1 })
    await script(home, 'cloudflared', cloudflaredOk(home, edgeUrl))
    const worker = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false), tunnel: tunnelIn(home) })
    const decided = report(worker)
    const refusals: string[] = []
    worker.on('degraded', (e) => refusals.push(`${e.reason}:${e.code}`))
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()

    expect(await decided).toMatchObject({ tier: 'tunnel', endpoint: edgeUrl })
    expect(refusals).toEqual(['register_failed:liveness_failed'])
    const e = await bound
    expect(e).toMatchObject({ relayNodeId: relay.nodeId, endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}` })
    expect(worker.endpoint).toBe(e.endpoint)
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: e.endpoint, transport_method: 'turn_relay' })
    const calls = await invocations(home)
    expect(calls).toHaveLength(1)
    expect(alive(Number(calls[0]?.split(' ')[0]))).toBe(false)
  })

  it('never advertises a tunnel that reaches another node, stops its cloudflared and serves locally', async () => {
    const d = await startDirectory()
    const home = await tunnelHome(cleanup)
    await script(home, 'cloudflared', cloudflaredOk(home, await impostor(cleanup)))
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false), tunnel: tunnelIn(home) })
    const decided = report(n)
    await n.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: '4', endpoint: undefined })
    expect(r.tunnel).toMatchObject({ source: undefined, url: undefined, tried: [{ step: 'quick_tunnel', outcome: 'unverified' }] })
    expect(r.advice.join(' ')).toMatch(/did not reach this node/)
    expect(n.isRegistered).toBe(false)
    expect(await nodeRecord(d, n.nodeId)).toBeUndefined()
    const pid = Number((await invocations(home))[0]?.split(' ')[0])
    expect(alive(pid)).toBe(false)
  })

  it('lets two nodes on one host starting together create one tunnel; the other falls through', async () => {
    const d = await startDirectory()
    const home = await tunnelHome(cleanup)
    const edgeUrl = await edge(home, cleanup)
    await script(home, 'cloudflared', cloudflaredOk(home, edgeUrl))
    const a = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false), tunnel: tunnelIn(home) })
    const b = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false), tunnel: tunnelIn(home) })
    const reports = Promise.all([report(a), report(b)])
    await Promise.all([a.serve(), b.serve()])

    const tiers = (await reports).map((r) => r.tier).sort()
    expect(tiers).toEqual(['4', 'tunnel'])
    expect(await invocations(home)).toHaveLength(1)
    const [winner, loser] = a.endpoint === edgeUrl ? [a, b] : [b, a]
    expect(winner.isRegistered).toBe(true)
    expect(loser.isRegistered).toBe(false)
    const lost = (await reports).find((r) => r.tier === '4')
    expect(lost?.tunnel?.tried).toEqual([expect.objectContaining({ step: 'quick_tunnel', outcome: 'refused' })])
  })
})

describe('tunnel rung options', () => {
  it("refuses a tunnel option without reachability: 'auto', and bad tunnel options, at construction", () => {
    const base = { directoryUrl: null, persistState: false, backend: echo() }
    expect(() => new IicpNode({ ...base, tunnel: {} })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringMatching(/reachability: 'auto'/) }))
    expect(() => new IicpNode({ ...base, reachability: 'auto', tunnel: { tunnelUrl: 'http://tunnel.example' } })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => new IicpNode({ ...base, reachability: 'auto', tunnel: 'yes' as never })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(new IicpNode({ ...base, tunnel: false }).options.tunnel).toBeUndefined()
    expect(new IicpNode({ ...base, reachability: 'auto', home: '/srv/iicp', tunnel: { quickTunnel: false } }).options.tunnel).toEqual({ home: '/srv/iicp', quickTunnel: false })
  })
})
