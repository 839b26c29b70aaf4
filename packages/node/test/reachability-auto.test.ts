/**
 * What this proves: `reachability: 'auto'` turns @iicp/nat's ladder into what the node does, against the
 * real directory on loopback. A verified UPnP mapping is registered with `transport_method` and
 * `exposure_mode` and deleted when the node closes, or released for a relay when the directory cannot reach
 * it after all; a CGNAT WAN address (tier 3) makes the node elect a
 * relay and serve a consumer's chat through it; when nothing works (tier 4) the node registers nothing and
 * says what to change; a loopback directory skips detection; and the directory probe hook counts a refusal
 * as "not verified". Gateways are small in-process fakes of the PortMapper interface (the real miniupnpd
 * runs in reachability-netns.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import type { RunningDirectory } from '@iicp/directory'
import type { MapRequest, PortMapper, PortMapping } from '@iicp/nat'
import { IicpNode, echo } from '../src/index.js'
import type { NatOptions, NodeOptions, ReachabilityReport, RelayBoundEvent } from '../src/index.js'
import { directoryProbe } from '../src/reachability/directory-probe.js'
import { directory, nodeRecord } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startDirectory(opts: Parameters<typeof directory>[0] = {}): Promise<RunningDirectory> {
  const d = await directory(opts)
  cleanup.push(() => d.close())
  return d
}

function node(opts: Partial<NodeOptions>): IicpNode {
  // No native accept port unless a test asks for one: the default 9485 is a fixed port this host may not have free.
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), backend: echo({ models: ['worker-model'] }), relayAcceptPort: false, ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

/** A gateway that answers like a home router with the given WAN address and records what it was asked. */
class FakeGateway implements PortMapper {
  readonly method = 'upnp' as const
  readonly mapped: PortMapping[] = []
  readonly unmapped: PortMapping[] = []
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
  async unmap(m: PortMapping): Promise<void> {
    this.unmapped.push(m)
  }
  async refresh(m: PortMapping): Promise<PortMapping> {
    return m
  }
  async close(): Promise<void> {}
}

/** NAT options for a host on a private LAN, outside any container, behind `gateway`. */
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

describe("reachability: 'auto'", () => {
  it('registers a verified UPnP mapping with its transport fields and deletes the mapping on close', async () => {
    // The directory cannot dial the fake WAN address; the ladder's own check stands in for its probe.
    const d = await startDirectory({ skipLivenessCheck: true })
    const gw = new FakeGateway('11.0.0.1')
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(gw, (url) => url === 'http://11.0.0.1:40123') })
    const decided = report(n)
    await n.serve()

    expect(await decided).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint: 'http://11.0.0.1:40123' })
    expect(n.endpoint).toBe('http://11.0.0.1:40123')
    expect(await nodeRecord(d, n.nodeId)).toMatchObject({ endpoint: 'http://11.0.0.1:40123', transport_method: 'upnp_mapped', exposure_mode: 'ipv4_public_direct' })
    expect(gw.mapped).toHaveLength(1)
    await n.close()
    expect(gw.unmapped).toEqual(gw.mapped)
  })

  it('elects a relay at tier 3 (a CGNAT WAN address) and serves a consumer through it', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const gw = new FakeGateway('100.64.3.9')
    const worker = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(gw, () => false) })
    const decided = report(worker)
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: '3', exposureMode: 'relay_required' })
    expect(r.tried).toContainEqual(expect.objectContaining({ step: 'cgnat', outcome: 'ok' }))
    expect(r.advice.join(' ')).toMatch(/relay/)
    expect(await bound).toMatchObject({ relayNodeId: relay.nodeId })
    expect(gw.mapped).toEqual([])
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}`, transport_method: 'turn_relay' })

    const client = new IicpClient({ directoryUrl: d.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true })
    cleanup.push(() => client.close())
    const reply = await client.chat([{ role: 'user', content: 'via the relay' }], { model: 'worker-model' })
    expect(reply.iicp).toMatchObject({ node_id: worker.nodeId, route: 'relay' })
  })

  it('falls back to a relay, and deletes the mapping, when the directory cannot reach the route the ladder verified', async () => {
    // This directory probes loopback only, so the mapped WAN address fails its registration probe.
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const gw = new FakeGateway('11.0.0.1')
    const worker = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(gw, () => true) })
    const failures: string[] = []
    worker.on('degraded', (e) => failures.push(`${e.reason}:${e.code}`))
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()

    expect(await bound).toMatchObject({ relayNodeId: relay.nodeId })
    expect(failures).toEqual(['register_failed:liveness_failed'])
    expect(gw.unmapped).toEqual(gw.mapped)
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}`, transport_method: 'turn_relay' })
  })

  it('registers nothing at tier 4 and tells the operator what to change', async () => {
    const d = await startDirectory()
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto', nat: lan(undefined, () => false) })
    const decided = report(n)
    await n.serve()

    const r = await decided
    expect(r).toMatchObject({ tier: '4', exposureMode: 'outbound_only', endpoint: undefined })
    expect(r.advice.join(' ')).toMatch(/forward TCP port \d+|IICP_PUBLIC_ENDPOINT/)
    expect(n.isRegistered).toBe(false)
    expect(await nodeRecord(d, n.nodeId)).toBeUndefined()
  })

  it('skips detection for a loopback directory and registers the local endpoint', async () => {
    const d = await startDirectory()
    const n = node({ directoryUrl: d.apiUrl, reachability: 'auto' })
    const decided = report(n)
    await n.serve()

    const r = await decided
    expect(r.tier).toBe('skipped')
    expect(r.tried[0]?.detail).toMatch(/loopback/)
    expect(await nodeRecord(d, n.nodeId)).toMatchObject({ endpoint: n.url })
  })
})

describe('the directory probe as verifyReachable', () => {
  it('counts a local-mode refusal (403) and a private-address refusal (422) as not verified', async () => {
    const local = await startDirectory()
    const pub = await startDirectory({ mode: 'public' })
    const a = directoryProbe(local.apiUrl, 2000)
    const b = directoryProbe(pub.apiUrl, 2000)
    cleanup.push(async () => { a.close(); b.close() })
    const signal = new AbortController().signal
    expect(await a.verify('http://11.0.0.1:9484', signal)).toBe(false)
    expect(await b.verify('http://10.0.0.1:9484', signal)).toBe(false)
  })
})
