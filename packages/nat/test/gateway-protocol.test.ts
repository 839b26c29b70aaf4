/**
 * Proves the edges of the gateway protocol code: SSDP answers are parsed strictly, descriptions are
 * only fetched from the answering or a local host, IPv6 SSDP finds the firewall, and malformed,
 * oversized or non-UPnP gateway answers become catalogue errors instead of crashes or silent values.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import type { RequestListener } from 'node:http'
import { createSocket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import type { NetworkInterfaceInfo } from 'node:os'
import { upnp, upnpFirewall } from '../src/index.js'
import { parseAnswer } from '../src/upnp/ssdp.js'
import { acceptableLocation } from '../src/upnp/discover-gateway.js'
import { FakeGateway } from './fake-gateway.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

async function server(handler: RequestListener): Promise<string> {
  const s = createServer(handler)
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections()
        s.close(() => resolve())
      }),
  )
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
}

const DESCRIPTION = (control: string): string =>
  `<?xml version="1.0"?><root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><deviceList><device><deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>${control}</controlURL></service></serviceList></device></deviceList></device></deviceList></device></root>`

describe('SSDP answers', () => {
  it('parses a 200 answer with case-insensitive headers', () => {
    expect(parseAnswer('HTTP/1.1 200 OK\r\nlocation: http://192.168.1.1:5000/rootDesc.xml\r\nSt: urn:x\r\nUSN: uuid:1\r\n\r\n', '192.168.1.1')).toEqual({
      location: 'http://192.168.1.1:5000/rootDesc.xml', st: 'urn:x', usn: 'uuid:1', from: '192.168.1.1',
    })
  })

  it('ignores a NOTIFY, an answer without LOCATION and a non-http LOCATION', () => {
    expect(parseAnswer('NOTIFY * HTTP/1.1\r\nLOCATION: http://a/\r\n\r\n', '1.2.3.4')).toBeUndefined()
    expect(parseAnswer('HTTP/1.1 200 OK\r\nST: x\r\n\r\n', '1.2.3.4')).toBeUndefined()
    expect(parseAnswer('HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n', '1.2.3.4')).toBeUndefined()
  })

  it('fetches descriptions only from the answering host or a local address', () => {
    expect(acceptableLocation('http://192.168.1.1:5000/d.xml', '192.168.1.1')).toBe(true)
    expect(acceptableLocation('http://[fd00:200::1]:5000/d.xml', 'fe80::1%eth0')).toBe(true)
    expect(acceptableLocation('http://8.8.8.8/d.xml', '192.168.1.1')).toBe(false)
  })

  it('fetches from a router that names its global IPv6 address on our own subnet, and from no other public host', () => {
    const lan = (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({
      lo: [{ address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 }],
      eth0: [
        { address: '2a00:1450:1:2::10', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: '2a00:1450:1:2::10/64', scopeid: 0 },
        { address: '192.168.1.10', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.10/24' },
      ],
    })
    // Routers answer the IPv6 search from their link-local address and name their LAN address in LOCATION.
    expect(acceptableLocation('http://[2a00:1450:1:2::1]:5000/rootDesc.xml', 'fe80::1%eth0', lan)).toBe(true)
    expect(acceptableLocation('http://[2a00:1450:1:3::1]:5000/rootDesc.xml', 'fe80::1%eth0', lan)).toBe(false)
    expect(acceptableLocation('http://[2a00:1450:1:2::1]:5000/rootDesc.xml', 'fe80::1%eth0', () => ({}))).toBe(false)
    expect(acceptableLocation('http://203.0.113.1/rootDesc.xml', '192.168.1.1', lan)).toBe(false)
    expect(acceptableLocation('http://11.0.0.1/rootDesc.xml', '192.168.1.1', lan)).toBe(false)
  })

  it('skips an answer whose LOCATION is not on the local network', async () => {
    const responder = createSocket('udp4')
    responder.on('message', (_m, rinfo) => {
      responder.send(Buffer.from('HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nLOCATION: http://203.0.113.1/rootDesc.xml\r\n\r\n'), rinfo.port, rinfo.address)
    })
    await new Promise<void>((resolve) => responder.bind(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => responder.close(() => resolve())))
    // The search listens for the whole window after skipping the answer; it must be long enough for the answer to arrive under load.
    const m = upnp({ ssdpAddress: '127.0.0.1', ssdpPort: responder.address().port, discoveryTimeoutMs: 2_000 })
    cleanups.push(() => m.close())
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('LOCATION points at a public host') })
  })

  it('finds the IPv6 firewall with an IPv6 SSDP search', async () => {
    const gw = await new FakeGateway({ version: 2, host: '::1' }).start()
    cleanups.push(() => gw.close())
    const fw = upnpFirewall({ ssdpAddresses6: ['::1'], ssdpPort: gw.ssdpPort, discoveryTimeoutMs: 2000 })
    cleanups.push(() => fw.close())
    expect(await fw.status()).toEqual({ firewallEnabled: true, inboundPinholeAllowed: true })
    expect(gw.calls[0]?.path).toBe('/ctl/IP6FCtl')
  })
})

describe('gateway answers that are not what UPnP promises', () => {
  it('turns a 500 without a UPnPError into service_unavailable', async () => {
    const base = await server((req, res) => {
      if (req.url === '/d.xml') res.end(DESCRIPTION('/ctl'))
      else res.writeHead(500).end('<html>oops</html>')
    })
    const m = upnp({ gatewayUrl: `${base}/d.xml` })
    cleanups.push(() => m.close())
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'service_unavailable', message: 'Gateway answered GetExternalIPAddress with HTTP 500' })
  })

  it('turns a 200 without the action response into invalid_response', async () => {
    const base = await server((req, res) => {
      if (req.url === '/d.xml') res.end(DESCRIPTION('/ctl'))
      else res.end('<s:Envelope xmlns:s="x"><s:Body><Other/></s:Body></s:Envelope>')
    })
    const m = upnp({ gatewayUrl: `${base}/d.xml` })
    cleanups.push(() => m.close())
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'invalid_response' })
  })

  it('refuses an oversized description with invalid_response', async () => {
    const base = await server((_req, res) => res.end(`<root>${'x'.repeat(300 * 1024)}</root>`))
    const m = upnp({ gatewayUrl: `${base}/d.xml` })
    cleanups.push(() => m.close())
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'invalid_response', message: expect.stringContaining('exceeds') })
  })

  it('refuses a description that is not XML or has no device', async () => {
    const base = await server((req, res) => res.end(req.url === '/a.xml' ? 'not xml at all <' : '<root><nothing/></root>'))
    for (const path of ['/a.xml', '/b.xml']) {
      const m = upnp({ gatewayUrl: `${base}${path}` })
      cleanups.push(() => m.close())
      await expect(m.externalAddress()).rejects.toMatchObject({ code: 'invalid_response' })
    }
  })

  it('ignores a control URL on another host', async () => {
    const base = await server((_req, res) => res.end(DESCRIPTION('http://192.0.2.1/ctl')))
    const m = upnp({ gatewayUrl: `${base}/d.xml` })
    cleanups.push(() => m.close())
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('WANIPConnection/WANPPPConnection') })
  })

  it('honours the caller signal with aborted', async () => {
    const gw = await new FakeGateway({ version: 2 }).start()
    cleanups.push(() => gw.close())
    const m = upnp({ gatewayUrl: gw.descriptionUrl })
    cleanups.push(() => m.close())
    await expect(m.map({ internalPort: 8080 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' })
    expect(gw.mappings.size).toBe(0)
  })
})
