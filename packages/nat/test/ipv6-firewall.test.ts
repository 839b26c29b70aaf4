/**
 * Proves IPv6 pinholes through WANIPv6FirewallControl:1 against the fake IGDv2: every action goes to
 * that service's own control URL, leases are renewed with UpdatePinhole, a 606 refusal surfaces as
 * `forbidden`, and close() deletes what is still open.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { upnpFirewall } from '../src/index.js'
import { FakeGateway } from './fake-gateway.js'
import { ManualClock } from './manual-clock.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

async function setup(version: 1 | 2 = 2): Promise<{ gw: FakeGateway; clock: ManualClock; fw: ReturnType<typeof upnpFirewall> }> {
  const gw = await new FakeGateway({ version }).start()
  cleanups.push(() => gw.close())
  const clock = new ManualClock()
  const fw = upnpFirewall({ gatewayUrl: gw.descriptionUrl, clock, leaseSeconds: 1800 })
  cleanups.push(() => fw.close())
  return { gw, clock, fw }
}

describe('upnpFirewall()', () => {
  it('opens a pinhole with AddPinhole on the WANIPv6FirewallControl control URL', async () => {
    const { gw, clock, fw } = await setup()
    const pinhole = await fw.open({ internalHost: '2a00:1450::10', internalPort: 9484 })
    expect(pinhole).toEqual({ uniqueId: '1', protocol: 'TCP', internalHost: '2a00:1450::10', internalPort: 9484, leaseSeconds: 1800, expiresAt: clock.now() + 1_800_000 })
    const add = gw.callsOf('AddPinhole')[0]
    expect(add?.path).toBe('/ctl/IP6FCtl')
    expect(add?.args).toEqual({ RemoteHost: '', RemotePort: '0', InternalClient: '2a00:1450::10', InternalPort: '9484', Protocol: '6', LeaseTime: '1800' })
  })

  it('reports the firewall status', async () => {
    const { gw, fw } = await setup()
    gw.firewallInboundAllowed = false
    expect(await fw.status()).toEqual({ firewallEnabled: true, inboundPinholeAllowed: false })
  })

  it('renews with UpdatePinhole and deletes with DeletePinhole, both by UniqueID', async () => {
    const { gw, clock, fw } = await setup()
    const pinhole = await fw.open({ internalHost: '2a00:1450::10', internalPort: 9484, protocol: 'UDP', leaseSeconds: 60 })
    clock.advance(30_000)
    const renewed = await fw.refresh(pinhole)
    expect(renewed.expiresAt).toBe(clock.now() + 60_000)
    expect(gw.callsOf('UpdatePinhole')[0]).toEqual({ path: '/ctl/IP6FCtl', action: 'UpdatePinhole', args: { UniqueID: '1', NewLeaseTime: '60' } })
    expect(gw.pinholes.get('1')?.protocol).toBe('17')
    await fw.delete(renewed)
    expect(gw.pinholes.size).toBe(0)
    await expect(fw.delete(renewed)).resolves.toBeUndefined()
  })

  it('surfaces a 606 refusal as forbidden with the UPnP code', async () => {
    const { gw, fw } = await setup()
    gw.failNext('AddPinhole', 606)
    await expect(fw.open({ internalHost: '2a00:1450::10', internalPort: 9484 })).rejects.toMatchObject({
      code: 'forbidden', status: 403, extra: { upnp_error_code: 606, upnp_action: 'AddPinhole' },
    })
  })

  it('refuses an IPv4 internal host before any call', async () => {
    const { gw, fw } = await setup()
    await expect(fw.open({ internalHost: '192.168.1.5', internalPort: 9484 })).rejects.toMatchObject({ code: 'invalid_config' })
    expect(gw.calls).toHaveLength(0)
  })

  it('fails with not_found on an IGDv1 that has no IPv6 firewall service', async () => {
    const { fw } = await setup(1)
    await expect(fw.status()).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('WANIPv6FirewallControl:1') })
  })

  it('deletes every open pinhole on close', async () => {
    const { gw, fw } = await setup()
    await fw.open({ internalHost: '2a00:1450::10', internalPort: 9484 })
    await fw.open({ internalHost: '2a00:1450::10', internalPort: 9485 })
    await fw.close()
    await fw.close()
    expect(gw.pinholes.size).toBe(0)
    expect(gw.callsOf('DeletePinhole').every((c) => c.path === '/ctl/IP6FCtl')).toBe(true)
  })

  it('undoes a pinhole that was still being opened when close() was called', async () => {
    const { gw, fw } = await setup()
    const held = gw.hold('AddPinhole')
    const opening = fw.open({ internalHost: '2a00:1450::10', internalPort: 9484 })
    await held.arrived
    const closed = fw.close()
    held.release()
    await closed
    await expect(opening).rejects.toMatchObject({ code: 'service_unavailable' })
    expect(gw.callsOf('DeletePinhole')).toHaveLength(1)
    expect(gw.pinholes.size).toBe(0)
  })
})
