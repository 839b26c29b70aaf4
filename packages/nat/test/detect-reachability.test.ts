/**
 * Proves the reachability ladder picks the right tier through its injected seams (interface list,
 * gateway finder, env, container check, verifyReachable), using the fake IGD and fake NAT-PMP
 * gateways as the real mappers: public interface → 0, UPnP → 1a, CGNAT + pinhole → 1b, pinhole
 * refused (606) → 1c, CGNAT without IPv6 → 3, nothing → 4, containers and the IICP_* overrides.
 * It also proves nothing unverified is advertised and the probe leaves nothing on the gateway.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { NetworkInterfaceInfo } from 'node:os'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { detectContainer, detectReachability, natPmp, reachabilityOptionsFromEnv, upnp, upnpFirewall } from '../src/index.js'
import type { DetectReachabilityOptions, GatewayClients } from '../src/index.js'
import { FakeGateway } from './fake-gateway.js'
import { FakeNatPmp } from './fake-nat-pmp.js'
import { defaultRouteSourceIpv4 } from '../src/local-route.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

function iface(address: string): NetworkInterfaceInfo {
  const v6 = address.includes(':')
  return {
    address,
    family: v6 ? 'IPv6' : 'IPv4',
    internal: false,
    netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.255.0',
    mac: '02:00:00:00:00:01',
    cidr: null,
    ...(v6 ? { scopeid: 0 } : {}),
  } as NetworkInterfaceInfo
}

function interfaces(...addresses: string[]): () => NodeJS.Dict<NetworkInterfaceInfo[]> {
  return () => ({ lo: [{ ...iface('127.0.0.1'), internal: true }], eth0: addresses.map(iface) })
}

async function fakeGateway(options: ConstructorParameters<typeof FakeGateway>[0]): Promise<FakeGateway> {
  const gw = await new FakeGateway(options).start()
  cleanups.push(() => gw.close())
  return gw
}

function clientsFor(gw: FakeGateway): () => Promise<GatewayClients> {
  return async () => ({
    mappers: [upnp({ gatewayUrl: gw.descriptionUrl, internalClient: '192.168.1.10' })],
    firewall: upnpFirewall({ gatewayUrl: gw.descriptionUrl }),
  })
}

/** A verifier that answers true for the listed URLs and records every question. */
function verifier(...reachable: string[]): { asked: string[]; verifyReachable: NonNullable<DetectReachabilityOptions['verifyReachable']> } {
  const asked: string[] = []
  return {
    asked,
    verifyReachable: async (url) => {
      asked.push(url)
      return reachable.includes(url)
    },
  }
}

const noContainer = async (): Promise<undefined> => undefined
const noGateway = async (): Promise<GatewayClients> => {
  throw new Error('the gateway must not be searched here')
}

describe('detectReachability()', () => {
  it('returns tier 0 for a verified public address on an interface without searching a gateway', async () => {
    const v = verifier('http://11.22.33.44:9484')
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('11.22.33.44'), findGateway: noGateway, detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '0', exposureMode: 'ipv4_public_direct', endpoint: 'http://11.22.33.44:9484', transportMethod: 'direct' })
    expect(result.tried.at(-1)).toMatchObject({ step: 'public_interface', outcome: 'ok' })
    expect(v.asked).toEqual(['http://11.22.33.44:9484'])
  })

  it('returns tier 1a for a verified UPnP mapping and removes it again because it is only a probe', async () => {
    const gw = await fakeGateway({ version: 2, externalIp: '11.22.33.44' })
    const v = verifier('http://11.22.33.44:9484')
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint: 'http://11.22.33.44:9484', transportMethod: 'upnp_mapped', wanAddress: '11.22.33.44' })
    expect(gw.callsOf('AddAnyPortMapping')).toHaveLength(1)
    expect(gw.callsOf('DeletePortMapping')[0]?.args).toEqual({ NewRemoteHost: '', NewExternalPort: '9484', NewProtocol: 'TCP' })
    expect(gw.mappings.size).toBe(0)
  })

  it('returns tier 1a through NAT-PMP when no UPnP gateway answers', async () => {
    const pmp = await new FakeNatPmp().start()
    cleanups.push(() => pmp.close())
    const gw = await fakeGateway({ version: 2 })
    const closedUrl = gw.descriptionUrl
    await gw.close()
    const v = verifier('http://11.22.33.44:9484')
    const result = await detectReachability({
      port: 9484,
      networkInterfaces: interfaces('192.168.1.10'),
      detectContainer: noContainer,
      findGateway: async () => ({ mappers: [upnp({ gatewayUrl: closedUrl }), natPmp({ gateway: '127.0.0.1', port: pmp.port, initialTimeoutMs: 2_000 })] }),
      ...v,
    })
    expect(result).toMatchObject({ tier: '1a', endpoint: 'http://11.22.33.44:9484', transportMethod: 'upnp_mapped' })
    expect(result.tried.map((t) => `${t.step}:${t.outcome}`)).toEqual(['public_interface:skipped', 'upnp:failed', 'nat_pmp:ok'])
    expect(pmp.mappings.size).toBe(0)
  })

  it('returns tier 1b behind CGNAT when an IPv6 pinhole opens and verifies', async () => {
    const gw = await fakeGateway({ version: 2, externalIp: '100.64.7.9' })
    const v = verifier('http://[2a00:1450::10]:9484')
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10', '2a00:1450::10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '1b', exposureMode: 'ipv6_direct_pinhole_available', endpoint: 'http://[2a00:1450::10]:9484', transportMethod: 'direct', wanAddress: '100.64.7.9' })
    expect(result.tried.find((t) => t.step === 'cgnat')?.detail).toContain('100.64.7.9 (cgnat)')
    expect(gw.callsOf('AddAnyPortMapping')).toHaveLength(0)
    expect(gw.callsOf('AddPinhole')[0]?.path).toBe('/ctl/IP6FCtl')
    expect(gw.pinholes.size).toBe(0)
  })

  it('returns tier 1c when the router refuses the pinhole with 606 but the IPv6 address answers anyway', async () => {
    const gw = await fakeGateway({ version: 2, externalIp: '100.64.7.9' })
    gw.failNext('AddPinhole', 606)
    const v = verifier('http://[2a00:1450::10]:9484')
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10', '2a00:1450::10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '1c', exposureMode: 'ipv6_direct_firewall_required', endpoint: 'http://[2a00:1450::10]:9484' })
    expect(result.tried.find((t) => t.step === 'ipv6_pinhole')).toMatchObject({ outcome: 'failed', detail: expect.stringContaining('606') })
    expect(result.advice.join(' ')).toMatch(/refused the IPv6 pinhole.*FRITZ!Box/)
  })

  it('returns tier 3 (use a relay) behind CGNAT without usable IPv6', async () => {
    const gw = await fakeGateway({ version: 1, externalIp: '100.64.7.9' })
    const v = verifier()
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '3', exposureMode: 'relay_required', transportMethod: 'turn_relay', relay: { elect: true }, wanAddress: '100.64.7.9' })
    expect(result.endpoint).toBeUndefined()
    expect(result.advice.join(' ')).toContain('relay')
    expect(gw.mappings.size).toBe(0)
  })

  it('treats a private WAN address (a second router in front) like CGNAT', async () => {
    const gw = await fakeGateway({ version: 2, externalIp: '192.168.0.2' })
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...verifier() })
    expect(result.tier).toBe('3')
    expect(result.tried.find((t) => t.step === 'cgnat')?.detail).toContain('192.168.0.2 (private)')
  })

  describe('a host whose own interface is behind carrier-grade NAT (100.64.0.0/10, no home router)', () => {
    /** UPnP refuses the connection and NAT-PMP stays silent, as on an LTE modem's link: no gateway to ask. */
    async function noRouter(): Promise<() => Promise<GatewayClients>> {
      const pmp = await new FakeNatPmp().start()
      cleanups.push(() => pmp.close())
      pmp.silent = true
      const gw = await fakeGateway({ version: 2 })
      const closedUrl = gw.descriptionUrl
      await gw.close()
      return async () => ({ mappers: [upnp({ gatewayUrl: closedUrl }), natPmp({ gateway: '127.0.0.1', port: pmp.port, initialTimeoutMs: 5, retries: 2 })] })
    }

    it('returns tier 3 with relay election when the default route leaves from the 100.64/10 address, and never advises a port forward', async () => {
      let routeAsked = 0
      const result = await detectReachability({
        port: 9484,
        networkInterfaces: () => ({ lo: [{ ...iface('127.0.0.1'), internal: true }], wwan0: [iface('100.72.14.9')] }),
        defaultRouteAddress: async () => {
          routeAsked++
          return '100.72.14.9'
        },
        findGateway: await noRouter(),
        detectContainer: noContainer,
        ...verifier(),
      })
      expect(result).toMatchObject({ tier: '3', exposureMode: 'relay_required', transportMethod: 'turn_relay', relay: { elect: true } })
      expect(result.endpoint).toBeUndefined()
      expect(routeAsked).toBe(1)
      expect(result.tried).toEqual([
        { step: 'public_interface', outcome: 'skipped', detail: 'no public IPv4 address on any interface' },
        { step: 'cgnat', outcome: 'ok', detail: 'the default route leaves from 100.72.14.9 on wwan0, in 100.64.0.0/10: carrier-grade NAT' },
        { step: 'upnp', outcome: 'failed', detail: expect.stringContaining('connection_failed') },
        { step: 'nat_pmp', outcome: 'failed', detail: expect.stringContaining('timeout') },
        { step: 'ipv6_direct', outcome: 'skipped', detail: 'no global IPv6 address on any interface' },
      ])
      expect(result.advice).toHaveLength(1)
      expect(result.advice[0]).toMatch(/^No direct route: this host's own address 100\.72\.14\.9 on wwan0 is in 100\.64\.0\.0\/10, so the provider's carrier-grade NAT is in front .*relay it elects/)
      expect(result.advice.join(' ')).not.toMatch(/forward TCP port|port forward/i)
    })

    it('counts the 100.64/10 address as CGNAT when the default route cannot be read (no procfs)', async () => {
      const result = await detectReachability({
        port: 9484,
        networkInterfaces: interfaces('100.64.0.2'),
        defaultRouteAddress: async () => undefined,
        findGateway: await noRouter(),
        detectContainer: noContainer,
        ...verifier(),
      })
      expect(result).toMatchObject({ tier: '3', relay: { elect: true } })
      expect(result.tried).toContainEqual({ step: 'cgnat', outcome: 'ok', detail: '100.64.0.2 on eth0 is in 100.64.0.0/10 and the default route could not be read: carrier-grade NAT assumed' })
    })

    it('does not mistake an overlay address in 100.64/10 (Tailscale) for CGNAT when the default route leaves from the LAN', async () => {
      const result = await detectReachability({
        port: 9484,
        networkInterfaces: () => ({ eth0: [iface('192.168.1.10')], tailscale0: [iface('100.101.102.103')] }),
        defaultRouteAddress: async () => '192.168.1.10',
        findGateway: await noRouter(),
        detectContainer: noContainer,
        ...verifier(),
      })
      expect(result).toMatchObject({ tier: '4', exposureMode: 'outbound_only' })
      expect(result.relay).toBeUndefined()
      expect(result.tried).toContainEqual({ step: 'cgnat', outcome: 'skipped', detail: expect.stringMatching(/^100\.101\.102\.103 on tailscale0 is in 100\.64\.0\.0\/10, but the default route leaves from 192\.168\.1\.10: an overlay/) })
      expect(result.advice).toEqual([expect.stringMatching(/forward TCP port 9484/)])
    })

    it('still takes a verified mapping or a verified IPv6 pinhole before falling back to a relay', async () => {
      const mapped = await fakeGateway({ version: 2, externalIp: '11.22.33.44' })
      const viaMapping = await detectReachability({
        port: 9484,
        networkInterfaces: interfaces('100.64.10.20'),
        defaultRouteAddress: async () => '100.64.10.20',
        findGateway: clientsFor(mapped),
        detectContainer: noContainer,
        ...verifier('http://11.22.33.44:9484'),
      })
      expect(viaMapping).toMatchObject({ tier: '1a', endpoint: 'http://11.22.33.44:9484', transportMethod: 'upnp_mapped' })
      expect(viaMapping.advice).toEqual([])

      const pinholed = await fakeGateway({ version: 2 })
      const viaPinhole = await detectReachability({
        port: 9484,
        networkInterfaces: interfaces('100.64.10.20', '2a00:1450::10'),
        defaultRouteAddress: async () => '100.64.10.20',
        findGateway: async () => ({ mappers: [], firewall: upnpFirewall({ gatewayUrl: pinholed.descriptionUrl }) }),
        detectContainer: noContainer,
        ...verifier('http://[2a00:1450::10]:9484'),
      })
      expect(viaPinhole).toMatchObject({ tier: '1b', endpoint: 'http://[2a00:1450::10]:9484', exposureMode: 'ipv6_direct_pinhole_available' })
      expect(viaPinhole.tried.map((t) => `${t.step}:${t.outcome}`)).toEqual(['public_interface:skipped', 'cgnat:ok', 'ipv6_pinhole:ok'])
      expect(pinholed.pinholes.size).toBe(0)
    })

    it('does not read the default route when no interface has a 100.64/10 address', async () => {
      const gw = await fakeGateway({ version: 2, externalIp: '11.22.33.44' })
      const result = await detectReachability({
        port: 9484,
        networkInterfaces: interfaces('192.168.1.10'),
        defaultRouteAddress: async () => {
          throw new Error('the route must not be read here')
        },
        findGateway: clientsFor(gw),
        detectContainer: noContainer,
        ...verifier('http://11.22.33.44:9484'),
      })
      expect(result.tier).toBe('1a')
      expect(result.tried.map((t) => t.step)).not.toContain('cgnat')
    })
  })

  it('removes a mapping that does not verify and never advertises it', async () => {
    const gw = await fakeGateway({ version: 2, externalIp: '11.22.33.44' })
    const v = verifier()
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('192.168.1.10'), findGateway: clientsFor(gw), detectContainer: noContainer, ...v })
    expect(v.asked).toEqual(['http://11.22.33.44:9484'])
    expect(result.endpoint).toBeUndefined()
    expect(result.tier).toBe('3')
    expect(result.tried.find((t) => t.step === 'upnp')).toMatchObject({ outcome: 'failed', detail: expect.stringContaining('mapping removed') })
    expect(gw.mappings.size).toBe(0)
  })

  it('returns tier 4 with what was tried and what to change when nothing works', async () => {
    const pmp = await new FakeNatPmp().start()
    cleanups.push(() => pmp.close())
    pmp.silent = true
    const gw = await fakeGateway({ version: 2 })
    const closedUrl = gw.descriptionUrl
    await gw.close()
    const result = await detectReachability({
      port: 9484,
      networkInterfaces: interfaces('192.168.1.10'),
      detectContainer: noContainer,
      findGateway: async () => ({ mappers: [upnp({ gatewayUrl: closedUrl }), natPmp({ gateway: '127.0.0.1', port: pmp.port, initialTimeoutMs: 5, retries: 2 })] }),
      ...verifier(),
    })
    expect(result).toMatchObject({ tier: '4', exposureMode: 'outbound_only' })
    expect(result.endpoint).toBeUndefined()
    expect(result.tried).toEqual([
      { step: 'public_interface', outcome: 'skipped', detail: 'no public IPv4 address on any interface' },
      { step: 'upnp', outcome: 'failed', detail: expect.stringContaining('connection_failed') },
      { step: 'nat_pmp', outcome: 'failed', detail: expect.stringContaining('timeout') },
      { step: 'ipv6_direct', outcome: 'skipped', detail: 'no global IPv6 address on any interface' },
    ])
    expect(result.advice).toEqual([expect.stringMatching(/forward TCP port 9484.*IICP_PUBLIC_ENDPOINT.*IICP_RELAY_WORKER_ENDPOINT/)])
  })

  it('skips UPnP in a container and asks for IICP_PUBLIC_ENDPOINT', async () => {
    const result = await detectReachability({
      port: 9484,
      networkInterfaces: interfaces('172.17.0.2'),
      findGateway: noGateway,
      detectContainer: async () => '/.dockerenv exists (Docker)',
      ...verifier(),
    })
    expect(result).toMatchObject({ tier: '4', exposureMode: 'outbound_only' })
    expect(result.tried.at(-1)).toMatchObject({ step: 'container', outcome: 'ok', detail: expect.stringContaining('UPnP, NAT-PMP and pinholes skipped') })
    expect(result.advice.join(' ')).toContain('IICP_PUBLIC_ENDPOINT')
  })

  it('runs no detection when IICP_AUTO_DETECT_NAT=false', async () => {
    const v = verifier('http://11.22.33.44:9484')
    const result = await detectReachability({ port: 9484, env: { IICP_AUTO_DETECT_NAT: 'false' }, networkInterfaces: interfaces('11.22.33.44'), findGateway: noGateway, detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '4', exposureMode: 'outbound_only', tried: [{ step: 'auto_detect', outcome: 'skipped' }] })
    expect(v.asked).toEqual([])
  })

  it('uses a verified IICP_PUBLIC_ENDPOINT as tier 0, even with detection off', async () => {
    const v = verifier('https://node.example.org')
    const result = await detectReachability({ port: 9484, env: { IICP_AUTO_DETECT_NAT: '0', IICP_PUBLIC_ENDPOINT: 'https://node.example.org' }, findGateway: noGateway, detectContainer: noContainer, ...v })
    expect(result).toMatchObject({ tier: '0', endpoint: 'https://node.example.org', transportMethod: 'direct', exposureMode: 'ipv4_public_direct' })
  })

  it('does not advertise an IICP_PUBLIC_ENDPOINT that fails verification or names a private address', async () => {
    const unverified = await detectReachability({ port: 9484, env: { IICP_PUBLIC_ENDPOINT: 'https://node.example.org', IICP_AUTO_DETECT_NAT: 'false' }, ...verifier() })
    expect(unverified.tier).toBe('4')
    expect(unverified.advice[0]).toContain('IICP_PUBLIC_ENDPOINT https://node.example.org is not reachable')
    const v = verifier('http://192.168.1.10:9484')
    const private_ = await detectReachability({ port: 9484, publicEndpoint: 'http://192.168.1.10:9484', autoDetect: false, ...v })
    expect(private_.tier).toBe('4')
    expect(private_.tried[0]).toMatchObject({ step: 'operator_endpoint', outcome: 'failed', detail: expect.stringContaining('private') })
    expect(v.asked).toEqual([])
  })

  it('uses IICP_RELAY_WORKER_ENDPOINT as tier 3 without electing a relay', async () => {
    const result = await detectReachability({ port: 9484, env: { IICP_RELAY_WORKER_ENDPOINT: 'relay.example.org:9485' }, findGateway: noGateway, detectContainer: noContainer, ...verifier() })
    expect(result).toMatchObject({ tier: '3', exposureMode: 'relay_required', transportMethod: 'turn_relay', relay: { endpoint: 'relay.example.org:9485', elect: false } })
  })

  it('rejects a missing or impossible port with invalid_config', async () => {
    await expect(detectReachability({ port: 0 })).rejects.toMatchObject({ code: 'invalid_config', message: expect.stringContaining('port') })
    await expect(detectReachability({} as DetectReachabilityOptions)).rejects.toMatchObject({ code: 'invalid_config' })
  })

  it('records a failing gateway finder in tried and carries on', async () => {
    const result = await detectReachability({
      port: 9484,
      networkInterfaces: interfaces('192.168.1.10'),
      detectContainer: noContainer,
      findGateway: async () => {
        throw new TypeError('boom')
      },
      ...verifier(),
    })
    expect(result.tier).toBe('4')
    expect(result.tried).toContainEqual({ step: 'upnp', outcome: 'failed', detail: 'gateway finder failed: unexpected TypeError' })
  })

  it('advertises nothing without a verifyReachable hook, and says so', async () => {
    const result = await detectReachability({ port: 9484, networkInterfaces: interfaces('11.22.33.44'), findGateway: async () => ({ mappers: [] }), detectContainer: noContainer })
    expect(result.tier).toBe('4')
    expect(result.endpoint).toBeUndefined()
    expect(result.tried[0]?.detail).toContain('no verifyReachable hook')
  })
})

describe('reachabilityOptionsFromEnv()', () => {
  it('reads the three IICP_* variables and ignores blanks', () => {
    expect(reachabilityOptionsFromEnv({ IICP_AUTO_DETECT_NAT: 'OFF', IICP_PUBLIC_ENDPOINT: ' https://a.example.org ', IICP_RELAY_WORKER_ENDPOINT: '' })).toEqual({
      autoDetect: false,
      publicEndpoint: 'https://a.example.org',
    })
    expect(reachabilityOptionsFromEnv({ IICP_AUTO_DETECT_NAT: 'true', IICP_RELAY_WORKER_ENDPOINT: 'r.example.org:9485' })).toEqual({ autoDetect: true, relayWorkerEndpoint: 'r.example.org:9485' })
    expect(reachabilityOptionsFromEnv({})).toEqual({})
  })
})

describe('detectContainer()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iicp-container-'))
  const absent = join(dir, 'absent')
  const dockerenv = join(dir, 'dockerenv')
  writeFileSync(dockerenv, '')
  const routeFrom = (address: string | undefined) => async (): Promise<string | undefined> => address

  it('names KUBERNETES_SERVICE_HOST first, whatever the route', async () => {
    expect(await detectContainer({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, dockerenvPath: absent, cgroupPath: absent, defaultRouteAddress: routeFrom('192.168.1.20') })).toContain('Kubernetes')
  })

  it('notices /.dockerenv on a Docker bridge network and names the bridge address', async () => {
    expect(await detectContainer({ dockerenvPath: dockerenv, cgroupPath: absent, defaultRouteAddress: routeFrom('172.17.0.2') }))
      .toBe(`${dockerenv} exists (Docker) and the default route leaves from 172.17.0.2, a container bridge address`)
  })

  it('notices a container runtime named in /proc/1/cgroup on a Podman network', async () => {
    const cgroup = join(dir, 'cgroup')
    writeFileSync(cgroup, '0::/machine.slice/libpod-1234.scope\n')
    expect(await detectContainer({ dockerenvPath: absent, cgroupPath: cgroup, defaultRouteAddress: routeFrom('10.88.0.5') })).toBe(`${cgroup} names libpod and the default route leaves from 10.88.0.5, a container bridge address`)
  })

  it('lets a container that shares the home LAN (docker --network host) use UPnP', async () => {
    expect(await detectContainer({ dockerenvPath: dockerenv, cgroupPath: absent, defaultRouteAddress: routeFrom('192.168.1.20') })).toBeUndefined()
    expect(await detectContainer({ dockerenvPath: dockerenv, cgroupPath: absent, defaultRouteAddress: routeFrom('172.32.0.2') })).toBeUndefined()
  })

  it('keeps the container verdict when there is no default route to tell', async () => {
    expect(await detectContainer({ dockerenvPath: dockerenv, cgroupPath: absent, defaultRouteAddress: routeFrom(undefined) })).toBe(`${dockerenv} exists (Docker)`)
  })

  it('finds nothing on a plain host and does not look at the route', async () => {
    const cgroup = join(dir, 'plain')
    writeFileSync(cgroup, '0::/init.scope\n')
    let asked = false
    expect(await detectContainer({ dockerenvPath: absent, cgroupPath: cgroup, defaultRouteAddress: async () => { asked = true; return '172.17.0.2' } })).toBeUndefined()
    expect(asked).toBe(false)
  })
})

describe('defaultRouteSourceIpv4()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iicp-route-'))
  const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT'
  function table(name: string, ...rows: string[]): string {
    const path = join(dir, name)
    writeFileSync(path, `${[HEADER, ...rows].join('\n')}\n`)
    return path
  }
  const wwan = (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({ lo: [{ ...iface('127.0.0.1'), internal: true }], wwan0: [iface('fe80::1'), iface('100.72.14.9')] })

  it('takes the address of a point-to-point default route (default dev wwan0) from its interface', async () => {
    const routes = table('p2p', 'wwan0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0', 'wwan0\t0E0E4864\t00000000\t0001\t0\t0\t0\tFFFFFFFF\t0\t0\t0')
    expect(await defaultRouteSourceIpv4({ routeTable: routes, networkInterfaces: wwan })).toBe('100.72.14.9')
  })

  it('asks the kernel for the source toward the router of the lowest-metric default route, ignoring routes that are down', async () => {
    // 127.0.0.1 as the router: the kernel's answer is on loopback, so the check needs no network.
    const routes = table('metric', 'wwan0\t00000000\t00000000\t0001\t0\t0\t700\t00000000\t0\t0\t0', 'wwan0\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0', 'eth0\t00000000\t0100007F\t0003\t0\t0\t100\t00000000\t0\t0\t0')
    expect(await defaultRouteSourceIpv4({ routeTable: routes, networkInterfaces: wwan })).toBe('127.0.0.1')
  })

  it('is undefined without a default route or without procfs', async () => {
    expect(await defaultRouteSourceIpv4({ routeTable: table('none', 'eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0'), networkInterfaces: wwan })).toBeUndefined()
    expect(await defaultRouteSourceIpv4({ routeTable: join(dir, 'absent'), networkInterfaces: wwan })).toBeUndefined()
  })
})
