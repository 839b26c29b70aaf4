/**
 * Proves the UPnP IGD client against a real fake gateway on loopback: SSDP discovery aimed at a
 * loopback port, IGDv2 AddAnyPortMapping with fallback to AddPortMapping, IGDv1 WANIPConnection:1
 * and WANPPPConnection:1, the UPnP errors 606/718/725, deletion by the real external port and
 * protocol, renewal, and close() leaving nothing on the gateway.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createSocket } from 'node:dgram'
import { isIicpError } from '@iicp/protocol'
import { upnp } from '../src/index.js'
import type { PortMapper } from '../src/index.js'
import { FakeGateway } from './fake-gateway.js'
import { ManualClock } from './manual-clock.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

async function gateway(options: ConstructorParameters<typeof FakeGateway>[0]): Promise<FakeGateway> {
  const gw = await new FakeGateway(options).start()
  cleanups.push(() => gw.close())
  return gw
}

function mapper(options: Parameters<typeof upnp>[0]): PortMapper {
  const m = upnp({ internalClient: '127.0.0.1', ...options })
  cleanups.push(() => m.close())
  return m
}

describe('upnp() discovery', () => {
  it('finds an IGDv2 through an SSDP search aimed at a loopback port and maps with AddAnyPortMapping', async () => {
    const gw = await gateway({ version: 2 })
    const m = mapper({ ssdpAddress: '127.0.0.1', ssdpPort: gw.ssdpPort, discoveryTimeoutMs: 2000 })
    const mapping = await m.map({ internalPort: 9484 })
    expect(gw.ssdpAnswers).toBeGreaterThan(0)
    expect(mapping).toMatchObject({ method: 'upnp', protocol: 'TCP', internalHost: '127.0.0.1', internalPort: 9484, externalHost: '11.22.33.44', externalPort: 9484, leaseSeconds: 3600 })
    expect(gw.callsOf('AddAnyPortMapping')).toHaveLength(1)
    expect(gw.callsOf('AddPortMapping')).toHaveLength(0)
    expect(gw.mappings.get('TCP:9484')).toMatchObject({ internalClient: '127.0.0.1', internalPort: 9484, lease: 3600, description: 'iicp node' })
  })

  it('skips a device whose description is broken and still finds the real gateway', async () => {
    const gw = await gateway({ version: 2 })
    gw.decoyLocation = `http://127.0.0.1:${gw.httpPort}/broken.xml`
    const m = mapper({ ssdpAddress: '127.0.0.1', ssdpPort: gw.ssdpPort, discoveryTimeoutMs: 2000 })
    expect(await m.externalAddress()).toBe('11.22.33.44')
  })

  it('fails with not_found when no gateway answers the SSDP search', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())))
    const m = mapper({ ssdpAddress: '127.0.0.1', ssdpPort: silent.address().port, discoveryTimeoutMs: 50 })
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('No UPnP gateway answered') })
  })

  it('fails with connection_failed when the static gateway URL does not answer', async () => {
    const gw = await gateway({ version: 2 })
    const url = gw.descriptionUrl
    await gw.close()
    const m = mapper({ gatewayUrl: url })
    const err: unknown = await m.externalAddress().catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('connection_failed')
  })

  it('rejects a bad option at construction with invalid_config naming the option', () => {
    expect(() => upnp({ leaseSeconds: -1 })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('leaseSeconds') }))
    expect(() => upnp({ gatewayUrl: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})

describe('upnp() mappings', () => {
  it('maps on an IGDv1 WANIPConnection:1 with AddPortMapping only', async () => {
    const gw = await gateway({ version: 1 })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 8080, externalPort: 18080 })
    expect(mapping.externalPort).toBe(18080)
    expect(gw.callsOf('AddAnyPortMapping')).toHaveLength(0)
    expect(gw.callsOf('AddPortMapping')[0]?.args).toEqual({
      NewRemoteHost: '', NewExternalPort: '18080', NewProtocol: 'TCP', NewInternalPort: '8080', NewInternalClient: '127.0.0.1',
      NewEnabled: '1', NewPortMappingDescription: 'iicp node', NewLeaseDuration: '3600',
    })
  })

  it('maps on an IGDv1 WANPPPConnection:1', async () => {
    const gw = await gateway({ version: 1, ppp: true })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    await m.map({ internalPort: 8080 })
    expect(gw.calls.every((c) => c.path === '/ctl/IPConn')).toBe(true)
    expect(gw.mappings.has('TCP:8080')).toBe(true)
  })

  it('falls back to AddPortMapping when an IGDv2 lacks AddAnyPortMapping', async () => {
    const gw = await gateway({ version: 2, noAddAny: true })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 8080 })
    expect(gw.callsOf('AddAnyPortMapping')).toHaveLength(1)
    expect(gw.callsOf('AddPortMapping')).toHaveLength(1)
    expect(mapping.externalPort).toBe(8080)
  })

  it('takes the port the IGDv2 reserved when the wished one belongs to another host', async () => {
    const gw = await gateway({ version: 2 })
    gw.mappings.set('TCP:9484', { protocol: 'TCP', externalPort: 9484, internalClient: '192.168.1.9', internalPort: 9484, lease: 0, description: 'other' })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 9484 })
    expect(mapping.externalPort).toBe(9485)
    await m.unmap(mapping)
    expect(gw.callsOf('DeletePortMapping')[0]?.args).toEqual({ NewRemoteHost: '', NewExternalPort: '9485', NewProtocol: 'TCP' })
    expect(gw.mappings.has('TCP:9484')).toBe(true)
    expect(gw.mappings.has('TCP:9485')).toBe(false)
  })

  it('retries another external port after UPnP error 718 on an IGDv1', async () => {
    const gw = await gateway({ version: 1 })
    gw.failNext('AddPortMapping', 718)
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 8080 })
    const adds = gw.callsOf('AddPortMapping')
    expect(adds).toHaveLength(2)
    expect(adds[0]?.args.NewExternalPort).toBe('8080')
    expect(String(mapping.externalPort)).toBe(adds[1]?.args.NewExternalPort)
    expect(gw.mappings.has(`TCP:${mapping.externalPort}`)).toBe(true)
  })

  it('gives up with conflict when 718 keeps coming', async () => {
    const gw = await gateway({ version: 1 })
    gw.failNext('AddPortMapping', 718, 718, 718, 718)
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    await expect(m.map({ internalPort: 8080 })).rejects.toMatchObject({ code: 'conflict', status: 409, extra: { upnp_error_code: 718 } })
  })

  it('asks for a permanent lease after UPnP error 725 and never needs to renew it', async () => {
    const gw = await gateway({ version: 1, onlyPermanentLeases: true })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 8080 })
    expect(mapping.leaseSeconds).toBe(0)
    expect(mapping.expiresAt).toBe(Number.POSITIVE_INFINITY)
    expect(await m.refresh(mapping)).toBe(mapping)
    expect(gw.callsOf('AddPortMapping').map((c) => c.args.NewLeaseDuration)).toEqual(['3600', '0'])
  })

  it('throws forbidden with the UPnP code when the router answers 606', async () => {
    const gw = await gateway({ version: 2 })
    gw.failNext('AddAnyPortMapping', 606)
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const err: unknown = await m.map({ internalPort: 8080 }).catch((e: unknown) => e)
    expect(isIicpError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'forbidden', status: 403, extra: { upnp_error_code: 606, upnp_action: 'AddAnyPortMapping' } })
    expect(gw.mappings.size).toBe(0)
  })

  it('throws service_unavailable when the gateway reports no external address', async () => {
    const gw = await gateway({ version: 2, noExternalIp: true })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'service_unavailable' })
  })

  it('renews a mapping by re-adding the same external port, moving its expiry by the injected clock', async () => {
    const gw = await gateway({ version: 2 })
    const clock = new ManualClock()
    const m = mapper({ gatewayUrl: gw.descriptionUrl, clock, leaseSeconds: 600 })
    const mapping = await m.map({ internalPort: 8080 })
    expect(mapping.expiresAt).toBe(clock.now() + 600_000)
    clock.advance(300_000)
    const renewed = await m.refresh(mapping)
    expect(renewed.expiresAt).toBe(clock.now() + 600_000)
    expect(gw.callsOf('AddPortMapping')[0]?.args).toMatchObject({ NewExternalPort: '8080', NewLeaseDuration: '600' })
  })

  it('treats deleting a mapping that is already gone as done', async () => {
    const gw = await gateway({ version: 2 })
    const m = mapper({ gatewayUrl: gw.descriptionUrl })
    const mapping = await m.map({ internalPort: 8080 })
    gw.mappings.clear()
    await expect(m.unmap(mapping)).resolves.toBeUndefined()
  })

  it('deletes every mapping it still holds on close, once, and refuses work afterwards', async () => {
    const gw = await gateway({ version: 2 })
    const m = upnp({ gatewayUrl: gw.descriptionUrl, internalClient: '127.0.0.1' })
    await m.map({ internalPort: 8080 })
    await m.map({ internalPort: 8081, protocol: 'UDP' })
    expect(gw.mappings.size).toBe(2)
    await Promise.all([m.close(), m.close()])
    await m.close()
    expect(gw.mappings.size).toBe(0)
    expect(gw.callsOf('DeletePortMapping').map((c) => `${c.args.NewProtocol}:${c.args.NewExternalPort}`).sort()).toEqual(['TCP:8080', 'UDP:8081'])
    await expect(m.map({ internalPort: 8082 })).rejects.toMatchObject({ code: 'service_unavailable' })
  })

  it('undoes a mapping that was still being made when close() was called', async () => {
    const gw = await gateway({ version: 2 })
    const m = upnp({ gatewayUrl: gw.descriptionUrl, internalClient: '127.0.0.1' })
    const held = gw.hold('AddAnyPortMapping')
    const mapping = m.map({ internalPort: 8080 })
    await held.arrived
    const closed = m.close()
    held.release()
    await closed
    await expect(mapping).rejects.toMatchObject({ code: 'service_unavailable' })
    expect(gw.callsOf('DeletePortMapping')[0]?.args).toMatchObject({ NewExternalPort: '8080', NewProtocol: 'TCP' })
    expect(gw.mappings.size).toBe(0)
  })
})
