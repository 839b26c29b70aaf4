/**
 * `reachability: 'auto'` end to end, in network namespaces this file creates and removes. Tier 3: a node on a
 * LAN behind a home router (real miniupnpd) whose WAN address is in 100.64.0.0/10, behind a carrier NAT that
 * forwards nothing inbound, with no IPv6. Its ladder finds carrier-grade NAT, it elects the relay node from
 * the directory in the "internet" namespace, binds with a directory ticket and registers the relay's
 * path-scoped endpoint; a consumer there, which cannot dial the node itself, reaches it with `chat()`.
 * Tier 1a, the same home with a public WAN address, once for each way a router maps a port: IGDv2
 * (`AddAnyPortMapping`), IGDv1 (miniupnpd `-1`: `AddPortMapping` on WANIPConnection:1) and NAT-PMP (UPnP off).
 * The directory's `/v1/probe` verifies the mapping from the internet side before it is registered, a
 * consumer there reaches the node directly with `chat()` and its health answers, and the mapping is gone
 * from the router once the node closes.
 * Tier 1b, carrier-grade NAT for IPv4 with native IPv6: the node opens a pinhole in the router's IPv6
 * firewall (WANIPv6FirewallControl:1), the probe verifies its global address, and a consumer reaches it there.
 * The 100.64/10 and 11.0.0.0/16 addresses and the 2e00::/16 prefixes (global unicast that IANA has not
 * allocated) exist only inside these namespaces, which have no route out.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CgnatNetns, netnsSkipReason } from './support/netns/cgnat-harness.js'
import type { JsonLinesProcess } from './support/netns/cgnat-harness.js'

const skipReason = netnsSkipReason()
const titled = (what: string): string => (skipReason ? `${what}, in network namespaces (skipped: ${skipReason})` : `${what}, in network namespaces`)
const title = titled('a node behind CGNAT without IPv6')

interface WorkerSettings {
  model: string
  host?: string
  upnp?: { discoveryTimeoutMs?: number; requestTimeoutMs?: number }
  natPmp?: { initialTimeoutMs?: number; retries?: number }
}

/**
 * Ladder timeouts for a gateway that does answer: a search ends with the first answer and NAT-PMP with the
 * first reply, so generous values cost nothing and keep a loaded machine from turning a slow answer into a miss.
 */
const PATIENT = { upnp: { discoveryTimeoutMs: 10_000, requestTimeoutMs: 10_000 }, natPmp: { initialTimeoutMs: 1_000, retries: 5 } }

describe.skipIf(skipReason !== undefined)(title, { timeout: 90_000 }, () => {
  let netns: CgnatNetns
  let wan: JsonLinesProcess | undefined
  let worker: JsonLinesProcess | undefined

  beforeAll(async () => {
    netns = new CgnatNetns()
    netns.up()
    await netns.startMiniupnpd()
  }, 90_000)

  afterAll(async () => {
    await worker?.stop('close')
    await wan?.stop(JSON.stringify({ op: 'close', id: 0 }))
    await netns?.down()
  }, 90_000)

  it('finds tier 3, elects the relay, and a consumer on the internet side reaches it with chat()', async () => {
    wan = netns.run(netns.wan, './wan-services.ts')
    const ready = await wan.next((v) => v.ready === true)
    const relay = ready.relay as { url: string; nodeId: string; acceptPort: number }
    expect(relay.url).toMatch(/^http:\/\/11\.0\.0\.2:\d+$/)
    // A relay opens the port official-SDK workers dial by default (official-sdks.md §5.6), and says so at registration.
    expect(relay.acceptPort).toBe(9485)
    expect((await wan.call({ op: 'record', nodeId: relay.nodeId })).record).toMatchObject({ relay_capable: true, relay_accept_port: 9485 })

    worker = netns.run(netns.lan, './cgnat-worker.ts', [String(ready.directory), JSON.stringify(PATIENT)])
    const reach = await worker.next((v) => v.event === 'reachability')
    expect(reach).toMatchObject({ tier: '3', exposureMode: 'relay_required' })
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'cgnat', outcome: 'ok' }))
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'ipv6_direct', outcome: 'skipped' }))
    const bound = await worker.next((v) => v.event === 'relay_bound')
    const nodeId = String(bound.nodeId)
    expect(bound).toMatchObject({ relayUrl: relay.url, relayNodeId: relay.nodeId, endpoint: `${relay.url}/v1/relay-for/${nodeId}` })
    const serving = await worker.next((v) => v.event === 'serving')

    const { record } = await wan.call({ op: 'record', nodeId })
    expect(record).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${nodeId}`, transport_method: 'turn_relay', relay_endpoint: relay.url, exposure_mode: 'relay_required' })
    // The directory saw the carrier's address, and nothing on the internet side can open the node's port.
    const registered = worker.seen.filter((v) => v.event === 'registered')
    expect(registered.at(-1)).toMatchObject({ observedSourceIp: '11.0.0.1' })
    expect((await wan.call({ op: 'dial', url: `http://11.0.0.1:${String(serving.port)}/iicp/health` })).result).toMatch(/^ERR:/)
    expect(netns.routerRules()).not.toMatch(/dnat/)

    const reply = await wan.call({ op: 'chat', model: 'worker-model', content: 'hello across the carrier NAT' })
    expect(reply).toMatchObject({ content: 'echo: hello across the carrier NAT', iicp: { node_id: nodeId, route: 'relay' } })
  })
})

describe.skipIf(skipReason !== undefined)(titled('a node behind a home router with a public WAN address'), { timeout: 120_000 }, () => {
  let netns: CgnatNetns
  let wan: JsonLinesProcess | undefined
  let worker: JsonLinesProcess | undefined
  let directory = ''

  beforeAll(async () => {
    netns = new CgnatNetns('public')
    netns.up()
    wan = netns.run(netns.wan, './wan-services.ts')
    directory = String((await wan.next((v) => v.ready === true)).directory)
  }, 90_000)

  afterEach(async () => {
    await worker?.stop('close')
    worker = undefined
    await netns.stopMiniupnpd()
  }, 60_000)

  afterAll(async () => {
    await wan?.stop(JSON.stringify({ op: 'close', id: 0 }))
    await netns?.down()
  }, 90_000)

  /** Start a node in the LAN serving `settings.model`; resolves once it serves, with its ladder's verdict. */
  async function startWorker(settings: WorkerSettings): Promise<{ reach: Record<string, unknown>; nodeId: string; port: number }> {
    worker = netns.run(netns.lan, './cgnat-worker.ts', [directory, JSON.stringify(settings)])
    const reach = await worker.next((v) => v.event === 'reachability')
    const serving = await worker.next((v) => v.event === 'serving')
    return { reach, nodeId: String(serving.nodeId), port: Number(serving.port) }
  }

  /** A consumer on the internet side reaches the node directly: a chat task and its health, over `endpoint`. */
  async function reachedDirectly(endpoint: string, nodeId: string, model: string, transportMethod: string): Promise<void> {
    const { record } = await wan!.call({ op: 'record', nodeId })
    expect(record).toMatchObject({ endpoint, transport_method: transportMethod, exposure_mode: 'ipv4_public_direct' })
    const reply = await wan!.call({ op: 'chat', model, content: `through the ${model} mapping` })
    expect(reply).toMatchObject({ content: `echo: through the ${model} mapping`, iicp: { node_id: nodeId, route: 'direct' } })
    expect((await wan!.call({ op: 'dial', url: `${endpoint}/iicp/health`, timeoutMs: 15_000 })).result).toBe('200')
  }

  it('IGDv2: registers a UPnP mapping the directory probe verified, serves a consumer directly, and deletes the mapping on close', async () => {
    await netns.startMiniupnpd()
    const { reach, nodeId, port } = await startWorker({ model: 'igd2-model', ...PATIENT })
    const endpoint = `http://11.0.1.2:${port}`
    expect(reach).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint })
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'upnp', outcome: 'ok' }))
    expect(await netns.logLines(/#AddAnyPortMapping$/)).toBe(1)
    expect(netns.routerRules()).toMatch(new RegExp(`dport ${port} dnat ip to 10\\.200\\.0\\.2:${port}`))

    await reachedDirectly(endpoint, nodeId, 'igd2-model', 'upnp_mapped')

    await worker!.stop('close')
    expect(await netns.logLines(new RegExp(`DeletePortMapping: external port: ${port}, protocol: TCP`))).toBe(1)
    expect(netns.routerRules()).not.toMatch(/dnat/)
    expect((await wan!.call({ op: 'dial', url: `${endpoint}/iicp/health` })).result).toMatch(/^ERR:/)
  })

  it('IGDv1: maps with AddPortMapping on WANIPConnection:1, the probe and a consumer reach the node through it, and it is deleted on close', async () => {
    await netns.startMiniupnpd(['-1'])
    const { reach, nodeId, port } = await startWorker({ model: 'igd1-model', ...PATIENT })
    const endpoint = `http://11.0.1.2:${port}`
    expect(reach).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint })
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'upnp', outcome: 'ok' }))
    expect(await netns.logLines(new RegExp(`AddPortMapping: ext port ${port} to 10\\.200\\.0\\.2:${port} protocol TCP`))).toBe(1)
    // An IGDv1 router has no AddAnyPortMapping; the client must not have needed it.
    expect(netns.log).not.toMatch(/AddAnyPortMapping/)
    expect(netns.log).toMatch(/WANIPConnection:1#AddPortMapping/)
    expect(netns.routerRules()).toMatch(new RegExp(`dport ${port} dnat ip to 10\\.200\\.0\\.2:${port}`))

    await reachedDirectly(endpoint, nodeId, 'igd1-model', 'upnp_mapped')

    await worker!.stop('close')
    expect(await netns.logLines(new RegExp(`DeletePortMapping: external port: ${port}, protocol: TCP`))).toBe(1)
    expect(netns.routerRules()).not.toMatch(/dnat/)
  })

  it('NAT-PMP: with UPnP off on the router, maps through NAT-PMP, the probe and a consumer reach the node through it, and it is deleted on close', async () => {
    await netns.startMiniupnpd([], { upnp: false })
    // UPnP gets no SSDP answer at all, so its search waits out its window; keep that short.
    const { reach, nodeId, port } = await startWorker({ model: 'natpmp-model', upnp: { discoveryTimeoutMs: 2_000, requestTimeoutMs: 10_000 }, natPmp: PATIENT.natPmp })
    const endpoint = `http://11.0.1.2:${port}`
    expect(reach).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint })
    expect(reach.tried).toEqual([
      expect.objectContaining({ step: 'public_interface', outcome: 'skipped' }),
      { step: 'upnp', outcome: 'failed', detail: expect.stringContaining('No UPnP gateway answered') },
      expect.objectContaining({ step: 'nat_pmp', outcome: 'ok' }),
    ])
    expect(await netns.logLines(new RegExp(`NAT-PMP port mapping request : ${port}->10\\.200\\.0\\.2:${port} tcp lifetime=\\d+s`))).toBeGreaterThanOrEqual(1)
    expect(netns.log).not.toMatch(/AddPortMapping|AddAnyPortMapping/)
    expect(netns.routerRules()).toMatch(new RegExp(`dport ${port} dnat ip to 10\\.200\\.0\\.2:${port}`))

    await reachedDirectly(endpoint, nodeId, 'natpmp-model', 'upnp_mapped')

    await worker!.stop('close')
    // RFC 6886 §3.4: a delete is a request for the internal port with lifetime 0.
    expect(await netns.logLines(new RegExp(`NAT-PMP port mapping request : 0->10\\.200\\.0\\.2:${port} tcp lifetime=0s`))).toBeGreaterThanOrEqual(1)
    expect(netns.routerRules()).not.toMatch(/dnat/)
  })
})

describe.skipIf(skipReason !== undefined)(titled('a node behind CGNAT with native IPv6 and a UPnP IPv6 firewall'), { timeout: 120_000 }, () => {
  let netns: CgnatNetns
  let wan: JsonLinesProcess | undefined
  let worker: JsonLinesProcess | undefined

  beforeAll(async () => {
    netns = new CgnatNetns('cgnat6')
    netns.up()
    await netns.startMiniupnpd()
  }, 90_000)

  afterAll(async () => {
    await worker?.stop('close')
    await wan?.stop(JSON.stringify({ op: 'close', id: 0 }))
    await netns?.down()
  }, 90_000)

  it('opens a pinhole for its global IPv6 address, registers it as tier 1b once the probe verified it, serves a consumer there, and deletes the pinhole on close', async () => {
    wan = netns.run(netns.wan, './wan-services.ts')
    const ready = await wan.next((v) => v.ready === true)
    worker = netns.run(netns.lan, './cgnat-worker.ts', [String(ready.directory), JSON.stringify({ model: 'v6-model', host: '::', ...PATIENT })])
    const reach = await worker.next((v) => v.event === 'reachability')
    const serving = await worker.next((v) => v.event === 'serving')
    const nodeId = String(serving.nodeId)
    const port = Number(serving.port)
    const endpoint = `http://[2e00:200::2]:${port}`
    expect(reach).toMatchObject({ tier: '1b', exposureMode: 'ipv6_direct_pinhole_available', endpoint })
    // IPv4 first: the router's WAN address is carrier-grade NAT, so no mapping is worth making.
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'cgnat', outcome: 'ok' }))
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'ipv6_pinhole', outcome: 'ok' }))
    expect(await netns.logLines(/#AddPinhole$/)).toBe(1)
    const pinholeRule = new RegExp(`iif "wan0" th dport ${port} @nh,192,128 0x2e000200000000000000000000000002 .* accept`)
    expect(netns.routerRules()).toMatch(pinholeRule)
    expect(netns.routerRules()).not.toMatch(/dnat/)

    const { record } = await wan.call({ op: 'record', nodeId })
    expect(record).toMatchObject({ endpoint, transport_method: 'direct', exposure_mode: 'ipv6_direct_pinhole_available' })
    const reply = await wan.call({ op: 'chat', model: 'v6-model', content: 'straight through the pinhole' })
    expect(reply).toMatchObject({ content: 'echo: straight through the pinhole', iicp: { node_id: nodeId, route: 'direct' } })
    expect((await wan.call({ op: 'dial', url: `${endpoint}/iicp/health`, timeoutMs: 15_000 })).result).toBe('200')
    // Only the pinhole is open: a port without one is dropped by the router (a closed port that the host could
    // refuse never sees the SYN), and the node's port is not reachable over the carrier's IPv4.
    expect((await wan.call({ op: 'dial', url: 'http://[2e00:200::2]:9/' })).result).toBe('ERR:timeout')
    expect((await wan.call({ op: 'dial', url: `http://11.0.0.1:${port}/iicp/health` })).result).toMatch(/^ERR:/)

    await worker.stop('close')
    expect(await netns.logLines(/#DeletePinhole$/)).toBe(1)
    expect(netns.routerRules()).not.toMatch(pinholeRule)
  })
})
