/**
 * A small real Internet Gateway Device for unit tests: node:http on 127.0.0.1 serving rootDesc.xml
 * for IGDv1 or IGDv2 plus canned SOAP answers, an SSDP responder on a loopback UDP port, and
 * injectable UPnP errors. Each service only accepts its own actions on its own control URL.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import { XMLParser } from 'fast-xml-parser'

export interface FakeGatewayOptions {
  /** 2: IGD:2 with WANIPConnection:2 and WANIPv6FirewallControl:1. 1: IGD:1 with WANIPConnection:1. */
  version: 1 | 2
  /** IGDv1 only: offer WANPPPConnection:1 instead of WANIPConnection:1. */
  ppp?: boolean
  externalIp?: string
  /** Answer GetExternalIPAddress with an empty address (router not connected / needs auth). */
  noExternalIp?: boolean
  /** IGDv2 without AddAnyPortMapping (answers 401 Invalid Action). */
  noAddAny?: boolean
  /** Refuse every non-zero lease with 725 OnlyPermanentLeasesSupported. */
  onlyPermanentLeases?: boolean
  /** Loopback address to serve HTTP and SSDP on. @default '127.0.0.1' */
  host?: '127.0.0.1' | '::1'
}

export interface SoapRecord {
  path: string
  action: string
  args: Record<string, string>
}

export interface FakeMapping {
  protocol: string
  externalPort: number
  internalClient: string
  internalPort: number
  lease: number
  description: string
}

const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, parseTagValue: false })

const WAN_IP = (version: 1 | 2, ppp: boolean): string =>
  ppp ? 'urn:schemas-upnp-org:service:WANPPPConnection:1' : `urn:schemas-upnp-org:service:WANIPConnection:${version}`
const FIREWALL = 'urn:schemas-upnp-org:service:WANIPv6FirewallControl:1'

export class FakeGateway {
  readonly calls: SoapRecord[] = []
  readonly mappings = new Map<string, FakeMapping>()
  readonly pinholes = new Map<string, { internalClient: string; internalPort: number; protocol: string; lease: number }>()
  /** Errors to answer the next calls of an action with, in order. */
  readonly failures = new Map<string, number[]>()
  ssdpAnswers = 0
  /** Answer SSDP searches with this extra LOCATION first (a broken device on the LAN). */
  decoyLocation: string | undefined
  firewallInboundAllowed = true
  private readonly holds = new Map<string, { arrived: () => void; released: Promise<void> }>()
  private server: Server | undefined
  private ssdp: Socket | undefined
  private nextPinhole = 1
  httpPort = 0
  ssdpPort = 0

  constructor(readonly options: FakeGatewayOptions) {}

  get host(): string {
    return this.options.host ?? '127.0.0.1'
  }

  get descriptionUrl(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host
    return `http://${host}:${this.httpPort}/rootDesc.xml`
  }

  get wanServiceType(): string {
    return WAN_IP(this.options.version, this.options.ppp ?? false)
  }

  failNext(action: string, ...codes: number[]): void {
    this.failures.set(action, [...(this.failures.get(action) ?? []), ...codes])
  }

  /** Hold the next call of `action` until `release()`; `arrived` resolves when it came in. */
  hold(action: string): { arrived: Promise<void>; release: () => void } {
    let arrived: () => void = () => {}
    let release: () => void = () => {}
    const arrivedP = new Promise<void>((resolve) => (arrived = resolve))
    const released = new Promise<void>((resolve) => (release = resolve))
    this.holds.set(action, { arrived, released })
    return { arrived: arrivedP, release }
  }

  callsOf(action: string): SoapRecord[] {
    return this.calls.filter((c) => c.action === action)
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        if (req.method === 'GET' && req.url === '/rootDesc.xml') {
          res.writeHead(200, { 'content-type': 'text/xml' }).end(this.description())
          return
        }
        if (req.method === 'GET' && req.url === '/broken.xml') {
          res.writeHead(200, { 'content-type': 'text/xml' }).end('<root><device>')
          return
        }
        if (req.method === 'POST' && (req.url === '/ctl/IPConn' || req.url === '/ctl/IP6FCtl')) {
          const path = req.url
          const soapAction = String(req.headers.soapaction ?? '')
          const held = this.holds.get(/#([^"]+)/.exec(soapAction)?.[1] ?? '')
          const answer = (): void => {
            const { status, xml } = this.control(path, soapAction, body)
            res.writeHead(status, { 'content-type': 'text/xml; charset="utf-8"' }).end(xml)
          }
          if (!held) return answer()
          this.holds.delete(/#([^"]+)/.exec(soapAction)?.[1] ?? '')
          held.arrived()
          void held.released.then(answer)
          return
        }
        res.writeHead(404).end()
      })
    })
    await new Promise<void>((resolve) => this.server?.listen(0, this.host, resolve))
    this.httpPort = (this.server.address() as AddressInfo).port
    const ssdp = createSocket(this.host.includes(':') ? 'udp6' : 'udp4')
    this.ssdp = ssdp
    ssdp.on('message', (msg, rinfo) => {
      const text = msg.toString('latin1')
      const st = /\r\nST:\s*(.+?)\r\n/i.exec(text)?.[1] ?? ''
      if (!text.startsWith('M-SEARCH') || !/InternetGatewayDevice|WANIPv6FirewallControl/.test(st)) return
      this.ssdpAnswers++
      const answer = (location: string): Buffer =>
        Buffer.from(`HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: ${st}\r\nUSN: uuid:fake::${st}\r\nEXT:\r\nSERVER: fake/1 UPnP/1.1\r\nLOCATION: ${location}\r\n\r\n`, 'latin1')
      if (this.decoyLocation) ssdp.send(answer(this.decoyLocation), rinfo.port, rinfo.address)
      ssdp.send(answer(this.descriptionUrl), rinfo.port, rinfo.address)
    })
    await new Promise<void>((resolve) => ssdp.bind(0, this.host, resolve))
    this.ssdpPort = ssdp.address().port
    return this
  }

  async close(): Promise<void> {
    const server = this.server
    const ssdp = this.ssdp
    this.server = undefined
    this.ssdp = undefined
    if (ssdp) await new Promise<void>((resolve) => ssdp.close(() => resolve()))
    if (server) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  private description(): string {
    const v = this.options.version
    const firewall =
      v === 2
        ? `<service><serviceType>${FIREWALL}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId><controlURL>/ctl/IP6FCtl</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL><SCPDURL>/WANIP6FC.xml</SCPDURL></service>`
        : ''
    return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>${v === 2 ? 1 : 0}</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:${v}</deviceType><friendlyName>fake gateway</friendlyName>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL><SCPDURL>/L3F.xml</SCPDURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:${v}</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:${v}</deviceType>
<serviceList><service><serviceType>${this.wanServiceType}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service>${firewall}</serviceList>
</device></deviceList></device></deviceList></device></root>`
  }

  private control(path: string, soapAction: string, body: string): { status: number; xml: string } {
    const m = /^"?([^#"]+)#([^"]+)"?$/.exec(soapAction)
    const serviceType = m?.[1] ?? ''
    const action = m?.[2] ?? ''
    const parsed = parser.parse(body) as { Envelope?: { Body?: Record<string, unknown> } }
    const inner = parsed.Envelope?.Body?.[action]
    const args: Record<string, string> = {}
    if (inner && typeof inner === 'object') for (const [k, v] of Object.entries(inner)) args[k] = String(v)
    this.calls.push({ path, action, args })
    const expected = path === '/ctl/IP6FCtl' ? FIREWALL : this.wanServiceType
    if (serviceType !== expected) return fault(401, 'Invalid Action')
    const queued = this.failures.get(action)
    const code = queued?.shift()
    if (code !== undefined) return fault(code, 'Injected')
    return path === '/ctl/IP6FCtl' ? this.firewall(action, args) : this.wan(serviceType, action, args)
  }

  private wan(serviceType: string, action: string, args: Record<string, string>): { status: number; xml: string } {
    switch (action) {
      case 'GetExternalIPAddress':
        return ok(serviceType, action, { NewExternalIPAddress: this.options.noExternalIp ? '' : (this.options.externalIp ?? '11.22.33.44') })
      case 'AddPortMapping':
      case 'AddAnyPortMapping': {
        if (action === 'AddAnyPortMapping' && (this.options.version !== 2 || this.options.noAddAny)) return fault(401, 'Invalid Action')
        const lease = Number(args.NewLeaseDuration)
        if (this.options.onlyPermanentLeases && lease !== 0) return fault(725, 'OnlyPermanentLeasesSupported')
        let port = Number(args.NewExternalPort)
        const protocol = args.NewProtocol ?? ''
        const taken = this.mappings.get(`${protocol}:${port}`)
        if (taken && taken.internalClient !== args.NewInternalClient) {
          if (action === 'AddPortMapping') return fault(718, 'ConflictInMappingEntry')
          while (this.mappings.has(`${protocol}:${port}`)) port++
        }
        this.mappings.set(`${protocol}:${port}`, {
          protocol,
          externalPort: port,
          internalClient: args.NewInternalClient ?? '',
          internalPort: Number(args.NewInternalPort),
          lease,
          description: args.NewPortMappingDescription ?? '',
        })
        return ok(serviceType, action, action === 'AddAnyPortMapping' ? { NewReservedPort: String(port) } : {})
      }
      case 'DeletePortMapping': {
        const k = `${args.NewProtocol}:${args.NewExternalPort}`
        if (!this.mappings.delete(k)) return fault(714, 'NoSuchEntryInArray')
        return ok(serviceType, action, {})
      }
      default:
        return fault(401, 'Invalid Action')
    }
  }

  private firewall(action: string, args: Record<string, string>): { status: number; xml: string } {
    switch (action) {
      case 'GetFirewallStatus':
        return ok(FIREWALL, action, { FirewallEnabled: '1', InboundPinholeAllowed: this.firewallInboundAllowed ? '1' : '0' })
      case 'AddPinhole': {
        const id = String(this.nextPinhole++)
        this.pinholes.set(id, { internalClient: args.InternalClient ?? '', internalPort: Number(args.InternalPort), protocol: args.Protocol ?? '', lease: Number(args.LeaseTime) })
        return ok(FIREWALL, action, { UniqueID: id })
      }
      case 'UpdatePinhole': {
        const p = this.pinholes.get(args.UniqueID ?? '')
        if (!p) return fault(704, 'NoSuchEntry')
        p.lease = Number(args.NewLeaseTime)
        return ok(FIREWALL, action, {})
      }
      case 'DeletePinhole':
        if (!this.pinholes.delete(args.UniqueID ?? '')) return fault(704, 'NoSuchEntry')
        return ok(FIREWALL, action, {})
      default:
        return fault(401, 'Invalid Action')
    }
  }
}

function ok(serviceType: string, action: string, out: Record<string, string>): { status: number; xml: string } {
  const inner = Object.entries(out)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('')
  return {
    status: 200,
    xml: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:${action}Response xmlns:u="${serviceType}">${inner}</u:${action}Response></s:Body></s:Envelope>`,
  }
}

function fault(code: number, description: string): { status: number; xml: string } {
  return {
    status: 500,
    xml: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
  }
}
