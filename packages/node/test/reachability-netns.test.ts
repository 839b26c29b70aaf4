/**
 * Tier 3 end to end, in network namespaces this file creates and removes: a node on a LAN behind a home
 * router (real miniupnpd) whose WAN address is in 100.64.0.0/10, behind a carrier NAT that forwards nothing
 * inbound, with no IPv6. Its `reachability: 'auto'` ladder finds carrier-grade NAT, it elects the relay node
 * from the directory in the "internet" namespace, binds with a directory ticket and registers the relay's
 * path-scoped endpoint; a consumer there, which cannot dial the node itself, reaches it with `chat()`.
 * The 100.64/10 and 11.0.0.0/24 addresses exist only inside these namespaces, which have no route out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CgnatNetns, netnsSkipReason } from './support/netns/cgnat-harness.js'
import type { JsonLinesProcess } from './support/netns/cgnat-harness.js'

const skipReason = netnsSkipReason()
const title = skipReason
  ? `a node behind CGNAT without IPv6, in network namespaces (skipped: ${skipReason})`
  : 'a node behind CGNAT without IPv6, in network namespaces'

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
    const relay = ready.relay as { url: string; nodeId: string }
    expect(relay.url).toMatch(/^http:\/\/11\.0\.0\.2:\d+$/)

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
