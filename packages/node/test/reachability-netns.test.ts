/**
 * `reachability: 'auto'` end to end, in network namespaces this file creates and removes. Tier 3: a node on a
 * LAN behind a home router (real miniupnpd) whose WAN address is in 100.64.0.0/10, behind a carrier NAT that
 * forwards nothing inbound, with no IPv6. Its ladder finds carrier-grade NAT, it elects the relay node from
 * the directory in the "internet" namespace, binds with a directory ticket and registers the relay's
 * path-scoped endpoint; a consumer there, which cannot dial the node itself, reaches it with `chat()`.
 * Tier 1a, the same home with a public WAN address: the node maps its port with UPnP, the directory's
 * `/v1/probe` verifies the mapping from the internet side before it is registered, a consumer reaches the
 * node directly, and the mapping is gone from the router once the node closes.
 * The 100.64/10 and 11.0.0.0/16 addresses exist only inside these namespaces, which have no route out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CgnatNetns, netnsSkipReason } from './support/netns/cgnat-harness.js'
import type { JsonLinesProcess } from './support/netns/cgnat-harness.js'

const skipReason = netnsSkipReason()
const titled = (what: string): string => (skipReason ? `${what}, in network namespaces (skipped: ${skipReason})` : `${what}, in network namespaces`)
const title = titled('a node behind CGNAT without IPv6')

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

    worker = netns.run(netns.lan, './cgnat-worker.ts', [String(ready.directory)])
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

describe.skipIf(skipReason !== undefined)(titled('a node behind a UPnP home router with a public WAN address'), { timeout: 90_000 }, () => {
  let netns: CgnatNetns
  let wan: JsonLinesProcess | undefined
  let worker: JsonLinesProcess | undefined

  beforeAll(async () => {
    netns = new CgnatNetns('public')
    netns.up()
    await netns.startMiniupnpd()
  }, 90_000)

  afterAll(async () => {
    await worker?.stop('close')
    await wan?.stop(JSON.stringify({ op: 'close', id: 0 }))
    await netns?.down()
  }, 90_000)

  it('registers a UPnP mapping the directory probe verified, serves a consumer directly, and deletes the mapping on close', async () => {
    wan = netns.run(netns.wan, './wan-services.ts')
    const ready = await wan.next((v) => v.ready === true)
    worker = netns.run(netns.lan, './cgnat-worker.ts', [String(ready.directory)])
    const reach = await worker.next((v) => v.event === 'reachability')
    const serving = await worker.next((v) => v.event === 'serving')
    const endpoint = `http://11.0.1.2:${String(serving.port)}`
    expect(reach).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint })
    expect(reach.tried).toContainEqual(expect.objectContaining({ step: 'upnp', outcome: 'ok' }))
    expect(netns.routerRules()).toMatch(new RegExp(`dport ${String(serving.port)} dnat ip to 10\\.200\\.0\\.2:${String(serving.port)}`))

    const { record } = await wan.call({ op: 'record', nodeId: serving.nodeId })
    expect(record).toMatchObject({ endpoint, transport_method: 'upnp_mapped', exposure_mode: 'ipv4_public_direct' })
    const reply = await wan.call({ op: 'chat', model: 'worker-model', content: 'straight through the mapping' })
    expect(reply).toMatchObject({ content: 'echo: straight through the mapping', iicp: { node_id: serving.nodeId, route: 'direct' } })

    await worker.stop('close')
    expect(netns.routerRules()).not.toMatch(/dnat/)
    expect((await wan.call({ op: 'dial', url: `${endpoint}/iicp/health` })).result).toMatch(/^ERR:/)
  })
})
