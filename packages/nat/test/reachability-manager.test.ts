/**
 * Proves the ReachabilityManager owns the route it found: it renews a UPnP mapping and an IPv6
 * pinhole at half their lease on an injected clock, retries a failed renewal while the lease lasts
 * and reports a lost one, and close() deletes everything and leaves no timer, whenever it is called.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { NetworkInterfaceInfo } from 'node:os'
import { reachabilityManager, upnp, upnpFirewall } from '../src/index.js'
import type { GatewayClients, ReachabilityManagerOptions } from '../src/index.js'
import { FakeGateway } from './fake-gateway.js'
import { ManualClock } from './manual-clock.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

function lan(...addresses: string[]): () => NodeJS.Dict<NetworkInterfaceInfo[]> {
  return () => ({
    eth0: addresses.map((address) => ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', internal: false, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo),
  })
}

/** Wait for the renewal the clock just fired to reach the gateway over real HTTP (polls; asserts no timing). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 2))
  expect(condition()).toBe(true)
}

async function setup(gwOptions: ConstructorParameters<typeof FakeGateway>[0], extra: Partial<ReachabilityManagerOptions> = {}) {
  const gw = await new FakeGateway(gwOptions).start()
  cleanups.push(() => gw.close())
  const clock = new ManualClock()
  const findGateway = async (): Promise<GatewayClients> => ({
    mappers: [upnp({ gatewayUrl: gw.descriptionUrl, internalClient: '192.168.1.10', clock, leaseSeconds: 3600 })],
    firewall: upnpFirewall({ gatewayUrl: gw.descriptionUrl, clock, leaseSeconds: 3600 }),
  })
  const manager = reachabilityManager({
    port: 9484,
    clock,
    networkInterfaces: lan('192.168.1.10'),
    detectContainer: async () => undefined,
    findGateway,
    verifyReachable: async () => true,
    ...extra,
  })
  cleanups.push(() => manager.close())
  return { gw, clock, manager }
}

describe('reachabilityManager()', () => {
  it('keeps the mapping it found, renews it at half its lease and deletes it on close', async () => {
    const { gw, clock, manager } = await setup({ version: 2, externalIp: '11.22.33.44' })
    const [a, b] = await Promise.all([manager.start(), manager.start()])
    expect(a).toBe(b)
    expect(a).toMatchObject({ tier: '1a', endpoint: 'http://11.22.33.44:9484' })
    expect(manager.result).toBe(a)
    expect(gw.mappings.has('TCP:9484')).toBe(true)

    clock.advance(1_799_000)
    expect(gw.callsOf('AddPortMapping')).toHaveLength(0)
    clock.advance(1_000)
    await until(() => manager.renewals === 1)
    expect(gw.callsOf('AddPortMapping')[0]?.args).toMatchObject({ NewExternalPort: '9484', NewInternalClient: '192.168.1.10', NewLeaseDuration: '3600' })

    clock.advance(1_800_000)
    await until(() => manager.renewals === 2)

    await manager.close()
    await manager.close()
    expect(gw.mappings.size).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('renews a tier-1b pinhole with UpdatePinhole and deletes it on close', async () => {
    const { gw, clock, manager } = await setup(
      { version: 2, externalIp: '100.64.1.1' },
      { networkInterfaces: lan('192.168.1.10', '2a00:1450::10') },
    )
    expect(await manager.start()).toMatchObject({ tier: '1b', endpoint: 'http://[2a00:1450::10]:9484' })
    clock.advance(1_800_000)
    await until(() => manager.renewals === 1)
    expect(gw.callsOf('UpdatePinhole')[0]?.args).toEqual({ UniqueID: '1', NewLeaseTime: '3600' })
    await manager.close()
    expect(gw.pinholes.size).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('retries a failed renewal while the lease lasts and reports the lease lost once it ran out', async () => {
    const lost: string[] = []
    const { gw, clock, manager } = await setup({ version: 2, externalIp: '11.22.33.44' }, { onLeaseLost: (info) => lost.push(`${info.kind}:${info.result.tier}`) })
    await manager.start()
    gw.failNext('AddPortMapping', ...Array<number>(500).fill(501))
    clock.advance(1_800_000)
    // Each failure schedules a retry (at most 30 s later) while the lease lasts; once it ended, the manager gives up.
    for (let i = 0; i < 200; i++) {
      await until(() => clock.pending === 1 || lost.length > 0)
      if (lost.length > 0) break
      clock.advance(30_000)
    }
    expect(gw.callsOf('AddPortMapping').length).toBeGreaterThan(50)
    expect(lost).toEqual(['port_mapping:1a'])
    expect(manager.renewals).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('deletes what the ladder opened when close() comes while start() is still running', async () => {
    const { gw, manager } = await setup({ version: 2, externalIp: '11.22.33.44' })
    const started = manager.start()
    const closed = manager.close()
    await started.catch(() => undefined)
    await closed
    expect(gw.mappings.size).toBe(0)
  })

  it('closes cleanly when it was never started', async () => {
    const { gw, manager } = await setup({ version: 2 })
    await manager.close()
    expect(gw.calls).toHaveLength(0)
  })
})
