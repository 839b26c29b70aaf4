/**
 * Proves @iicp/nat against a real gateway: miniupnpd (Debian miniupnpd-nftables) in network
 * namespaces this file creates and removes. For IGDv2, IGDv1 (`-1`), NAT-PMP and an IPv6 pinhole, a
 * host in the WAN namespace reaches a server in the LAN namespace through what the client opened.
 * Every kind of lease is renewed (directly, or by the manager when the injected clock reaches half the
 * lease) and the gateway's own lease file shows the same mapping ending later; its rules and lease file
 * show deletion. The WAN addresses (11.0.0.0/24, 2001:db8:11::/64) and the LAN's global IPv6 prefix
 * (2e00:200::/64, unallocated by IANA) exist only inside these namespaces, which have no route out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayNetns, netnsSkipReason } from './netns/netns-harness.js'
import type { LanAgent } from './netns/netns-harness.js'

const skipReason = netnsSkipReason()
const title = skipReason
  ? `real miniupnpd in network namespaces (skipped: ${skipReason})`
  : 'real miniupnpd in network namespaces'

interface MappingReply {
  mapping: { externalHost: string; externalPort: number; internalHost: string; leaseSeconds: number }
}

interface AdvanceReply {
  fired: number
  renewals: number
  failedRenewals: number
}

describe.skipIf(skipReason !== undefined)(title, { timeout: 60_000 }, () => {
  let netns: GatewayNetns
  let agent: LanAgent | undefined

  beforeAll(async () => {
    netns = new GatewayNetns()
    netns.up()
  }, 90_000)

  afterAll(async () => {
    await agent?.close()
    await netns?.down()
  }, 90_000)

  describe('IGDv2 (miniupnpd default)', () => {
    beforeAll(async () => {
      await netns.startMiniupnpd()
      agent = await netns.agent(8080)
    }, 90_000)
    afterAll(async () => {
      await agent?.close()
      agent = undefined
    })

    it('lets a WAN host reach the LAN server through an AddAnyPortMapping, and DeletePortMapping removes it', async () => {
      expect(await netns.wanFetch('http://11.0.0.1:40100', 1500)).toMatch(/^ERR:/)
      const { mapping } = await agent!.call<MappingReply>({ op: 'map', kind: 'upnp', externalPort: 40100 })
      expect(mapping).toMatchObject({ externalHost: '11.0.0.1', externalPort: 40100, internalHost: '10.200.0.2', leaseSeconds: 3600 })
      expect(await netns.logLines(/#AddAnyPortMapping$/)).toBe(1)
      expect(netns.nft()).toMatch(/dport 40100 dnat ip to 10\.200\.0\.2:8080/)
      expect(await netns.wanFetch('http://11.0.0.1:40100')).toBe('lan-ok')

      await agent!.call({ op: 'unmap', kind: 'upnp' })
      expect(netns.nft()).not.toMatch(/dport 40100/)
      expect(netns.leases()).not.toMatch(/:40100:/)
      expect(await netns.wanFetch('http://11.0.0.1:40100', 1500)).toMatch(/^ERR:/)
    })

    it('maps with NAT-PMP, with the lease in seconds on the gateway, renews that lease in place, and deletes it', async () => {
      const { mapping } = await agent!.call<MappingReply>({ op: 'map', kind: 'natpmp', externalPort: 40200, leaseSeconds: 3600 })
      const mappedAt = performance.now()
      expect(mapping).toMatchObject({ externalHost: '11.0.0.1', externalPort: 40200, leaseSeconds: 3600 })
      // The lease file holds the absolute expiry in seconds: an hour from now, not 41 days (ms sent as s).
      const expiry = leaseExpiry(netns, 40200)
      expect(expiry - nowSeconds()).toBeGreaterThan(3000)
      expect(expiry - nowSeconds()).toBeLessThanOrEqual(3600)
      expect(await netns.wanFetch('http://11.0.0.1:40200')).toBe('lan-ok')

      await gatewaySecondsPass(mappedAt)
      const { mapping: renewed } = await agent!.call<MappingReply>({ op: 'refresh', kind: 'natpmp' })
      expect(renewed).toMatchObject({ externalHost: '11.0.0.1', externalPort: 40200, leaseSeconds: 3600 })
      expect(await natPmpRequests(netns, 40200, 8080, 3600, 2)).toBe(2)
      // Still one mapping, now ending later: the gateway extended the lease rather than adding another.
      const renewedExpiry = leaseExpiry(netns, 40200)
      expect(renewedExpiry).toBeGreaterThan(expiry)
      expect(renewedExpiry - nowSeconds()).toBeGreaterThan(3000)
      expect(renewedExpiry - nowSeconds()).toBeLessThanOrEqual(3600)
      expect(await netns.wanFetch('http://11.0.0.1:40200')).toBe('lan-ok')

      await agent!.call({ op: 'unmap', kind: 'natpmp' })
      expect(netns.nft()).not.toMatch(/dport 40200/)
      expect(netns.leases()).not.toMatch(/^TCP:40200:/m)
      expect(await netns.wanFetch('http://11.0.0.1:40200', 1500)).toMatch(/^ERR:/)
    })

    it('opens an IPv6 pinhole a WAN host can use, renews it, and deletes it', async () => {
      expect(await netns.wanFetch('http://[2e00:200::2]:8080', 1500)).toMatch(/^ERR:/)
      const { pinhole } = await agent!.call<{ pinhole: { uniqueId: string; leaseSeconds: number } }>({ op: 'pinhole', host: '2e00:200::2', leaseSeconds: 600 })
      expect(pinhole.leaseSeconds).toBe(600)
      expect(await netns.logLines(/#AddPinhole$/)).toBe(1)
      expect(await netns.wanFetch('http://[2e00:200::2]:8080')).toBe('lan-ok')

      await agent!.call({ op: 'refreshPinhole' })
      expect(await netns.logLines(/#UpdatePinhole$/)).toBe(1)
      expect(await netns.wanFetch('http://[2e00:200::2]:8080')).toBe('lan-ok')

      await agent!.call({ op: 'deletePinhole' })
      expect(await netns.logLines(/#DeletePinhole$/)).toBe(1)
      expect(await netns.wanFetch('http://[2e00:200::2]:8080', 1500)).toMatch(/^ERR:/)
    })

    it('keeps a verified tier-1a route alive with renewals and removes it when the manager closes', async () => {
      const { result } = await agent!.call<{ result: { tier: string; endpoint?: string; transportMethod?: string; exposureMode: string } }>({ op: 'manager', leaseSeconds: 600 })
      expect(result).toMatchObject({ tier: '1a', endpoint: 'http://11.0.0.1:8080', transportMethod: 'upnp_mapped', exposureMode: 'ipv4_public_direct' })
      expect(netns.nft()).toMatch(/dport 8080 dnat ip to 10\.200\.0\.2:8080/)
      expect(await netns.logLines(/redirecting port 8080 to 10\.200\.0\.2:8080 protocol TCP/)).toBe(1)

      const advanced = await agent!.call<AdvanceReply>({ op: 'advance', ms: 300_000 })
      expect(advanced).toMatchObject({ fired: 1, renewals: 1, failedRenewals: 0 })
      // IGDv2 mapped it with AddAnyPortMapping; the renewal re-adds the port it got (WANIPConnection:2 §2.5.16).
      expect(await portMappingAdds(netns, 8080, 1)).toBe(1)
      expect(await netns.logLines(/updating existing port mapping 8080 TCP/)).toBe(1)
      expect(await netns.wanFetch('http://11.0.0.1:8080')).toBe('lan-ok')

      await agent!.call({ op: 'closeManager' })
      expect(netns.nft()).not.toMatch(/dport 8080 dnat/)
      expect(netns.leases()).not.toMatch(/^TCP:8080:/m)
      expect(await netns.wanFetch('http://11.0.0.1:8080', 1500)).toMatch(/^ERR:/)
    })

    it('keeps a verified NAT-PMP route alive when the injected clock reaches half its lease, and removes it when the manager closes', async () => {
      const { result } = await agent!.call<{ result: { tier: string; endpoint?: string; transportMethod?: string; tried: Array<{ step: string; outcome: string }> } }>({ op: 'manager', only: 'natpmp', leaseSeconds: 600 })
      const mappedAt = performance.now()
      expect(result).toMatchObject({ tier: '1a', endpoint: 'http://11.0.0.1:8080', transportMethod: 'upnp_mapped' })
      expect(result.tried).toContainEqual(expect.objectContaining({ step: 'nat_pmp', outcome: 'ok' }))
      expect(await natPmpRequests(netns, 8080, 8080, 600, 1)).toBe(1)
      const expiry = leaseExpiry(netns, 8080)

      await gatewaySecondsPass(mappedAt)
      const advanced = await agent!.call<AdvanceReply>({ op: 'advance', ms: 300_000 })
      expect(advanced).toMatchObject({ fired: 1, renewals: 1, failedRenewals: 0 })
      expect(await natPmpRequests(netns, 8080, 8080, 600, 2)).toBe(2)
      const renewedExpiry = leaseExpiry(netns, 8080)
      expect(renewedExpiry).toBeGreaterThan(expiry)
      expect(renewedExpiry - nowSeconds()).toBeGreaterThan(500)
      expect(renewedExpiry - nowSeconds()).toBeLessThanOrEqual(600)
      expect(await netns.wanFetch('http://11.0.0.1:8080')).toBe('lan-ok')

      await agent!.call({ op: 'closeManager' })
      expect(netns.nft()).not.toMatch(/dport 8080 dnat/)
      expect(netns.leases()).not.toMatch(/^TCP:8080:/m)
      expect(await netns.wanFetch('http://11.0.0.1:8080', 1500)).toMatch(/^ERR:/)
    })
  })

  describe('IGDv1 (miniupnpd -1)', () => {
    beforeAll(async () => {
      await netns.startMiniupnpd(['-1'])
      agent = await netns.agent(8081)
    }, 90_000)
    afterAll(async () => {
      await agent?.close()
      agent = undefined
    })

    it('lets a WAN host reach the LAN server through AddPortMapping on WANIPConnection:1, renews the lease in place, and removes it', async () => {
      const { mapping } = await agent!.call<MappingReply>({ op: 'map', kind: 'upnp', externalPort: 40300 })
      const mappedAt = performance.now()
      expect(mapping).toMatchObject({ externalHost: '11.0.0.1', externalPort: 40300, internalHost: '10.200.0.2', leaseSeconds: 3600 })
      expect(netns.log).not.toMatch(/AddAnyPortMapping/)
      expect(netns.nft()).toMatch(/dport 40300 dnat ip to 10\.200\.0\.2:8081/)
      const expiry = leaseExpiry(netns, 40300)
      expect(expiry - nowSeconds()).toBeGreaterThan(3000)
      expect(await netns.wanFetch('http://11.0.0.1:40300')).toBe('lan-ok')

      await gatewaySecondsPass(mappedAt)
      const { mapping: renewed } = await agent!.call<MappingReply>({ op: 'refresh', kind: 'upnp' })
      expect(renewed).toMatchObject({ externalPort: 40300, leaseSeconds: 3600 })
      expect(await netns.logLines(/updating existing port mapping 40300 TCP/)).toBe(1)
      expect(await portMappingAdds(netns, 40300, 2)).toBe(2)
      expect(netns.log).not.toMatch(/AddAnyPortMapping/)
      const renewedExpiry = leaseExpiry(netns, 40300)
      expect(renewedExpiry).toBeGreaterThan(expiry)
      expect(renewedExpiry - nowSeconds()).toBeLessThanOrEqual(3600)
      expect(netns.nft().match(/dport 40300 dnat/g)).toHaveLength(1)
      expect(await netns.wanFetch('http://11.0.0.1:40300')).toBe('lan-ok')

      await agent!.call({ op: 'unmap', kind: 'upnp' })
      expect(netns.nft()).not.toMatch(/dport 40300/)
      expect(netns.leases()).not.toMatch(/^TCP:40300:/m)
      expect(await netns.wanFetch('http://11.0.0.1:40300', 1500)).toMatch(/^ERR:/)
    })
  })

  describe('a CGNAT-style gateway (WAN address in 100.64.0.0/10) with no IPv6 route', () => {
    beforeAll(async () => {
      netns.setWanAddress('100.64.0.1/24')
      await netns.startMiniupnpd()
      agent = await netns.agent(8082)
    }, 90_000)
    afterAll(async () => {
      await agent?.close()
      agent = undefined
    })

    it('decides on tier 3 (use a relay) and leaves nothing mapped on the gateway', async () => {
      const { result } = await agent!.call<{ result: { tier: string; endpoint?: string; relay?: unknown; exposureMode: string; tried: Array<{ step: string; outcome: string }> } }>({ op: 'manager' })
      expect(result).toMatchObject({ tier: '3', exposureMode: 'relay_required', relay: { elect: true } })
      expect(result.endpoint).toBeUndefined()
      expect(result.tried).toContainEqual(expect.objectContaining({ step: 'cgnat', outcome: 'ok' }))
      expect(netns.nft()).not.toMatch(/dnat/)
      await agent!.call({ op: 'closeManager' })
    })
  })
})

/** AddPortMapping calls miniupnpd logged for `port`, once there are at least `atLeast`. */
function portMappingAdds(netns: GatewayNetns, port: number, atLeast: number): Promise<number> {
  return netns.logLines(new RegExp(`AddPortMapping: ext port ${port} `), atLeast)
}

/** NAT-PMP map requests logged for `external -> internal` with this lifetime (deletes ask for 0 -> port, 0 s). */
function natPmpRequests(netns: GatewayNetns, externalPort: number, internalPort: number, lifetime: number, atLeast: number): Promise<number> {
  return netns.logLines(new RegExp(`NAT-PMP port mapping request : ${externalPort}->10\\.200\\.0\\.2:${internalPort} tcp lifetime=${lifetime}s`), atLeast)
}

/** The absolute expiry (Unix seconds) of the one TCP lease on `port` in miniupnpd's lease file. */
function leaseExpiry(netns: GatewayNetns, port: number): number {
  const lines = netns.leases().split('\n').filter((l) => l.startsWith(`TCP:${port}:`))
  expect(lines).toHaveLength(1)
  return Number(lines[0]?.split(':')[4])
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * miniupnpd stamps leases in whole seconds of its own clock, so a renewal inside the same second as
 * the grant could not show a later expiry. Waiting until two seconds have passed since `since` (a
 * `performance.now()` taken after the grant) makes a renewed lease end strictly later. It races
 * nothing: on a slow machine the wait is shorter or none.
 */
async function gatewaySecondsPass(since: number): Promise<void> {
  const left = since + 2_100 - performance.now()
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left))
}
