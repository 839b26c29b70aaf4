/**
 * `iicp nat detect` as a user runs it, behind a real home router: the gateway harness of packages/nat
 * (imported by relative path; tests may, packages may not) builds LAN, router and "internet" network
 * namespaces with miniupnpd on the router. `iicp directory serve --mode public` runs on the internet side;
 * `iicp nat detect --json` runs in the LAN namespace with no seam and no override, so its container check,
 * SSDP discovery, mapping and the directory's `/v1/probe` are all the real ones. It reports tier 1a through
 * the UPnP mapping the probe reached from outside, and the router holds nothing once it has returned.
 * Behind carrier-grade NAT with no router of its own (an LTE modem's link: the host's only address is in
 * 100.64.0.0/10, no UPnP or NAT-PMP to ask, no IPv6), it reports tier 3 with a relay to elect.
 * The 11.0.0.0/24 and 100.64.0.0/24 addresses exist only inside these namespaces, which have no route out.
 */
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayNetns, netnsSkipReason } from '../../../packages/nat/test/netns/netns-harness.js'
import { runCli, spawnCli, waitForJsonLine } from './run-cli.js'

const skipReason = netnsSkipReason()
const title = skipReason
  ? `iicp nat detect behind real miniupnpd, in network namespaces (skipped: ${skipReason})`
  : 'iicp nat detect behind real miniupnpd, in network namespaces'

interface DetectReport {
  tier: string
  tried: Array<{ step: string; outcome: string; detail: string }>
}

/** `iicp directory serve --mode public` in the WAN namespace; resolves with its API URL as the LAN sees it. */
async function serveDirectory(netns: GatewayNetns): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnCli(['directory', 'serve', '--host', '0.0.0.0', '--port', '0', '--mode', 'public', '--json'], {}, ['ip', 'netns', 'exec', netns.wan])
  const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
  return { child, url: `http://11.0.0.2:${new URL(String(ready.api_url)).port}/api` }
}

async function stopDirectory(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGINT')
  // Ctrl-C closes the directory cleanly; if it hangs it goes anyway (our own pid).
  const force = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(force)
}

describe.skipIf(skipReason !== undefined)(title, { timeout: 90_000 }, () => {
  let netns: GatewayNetns
  let directory: ChildProcess | undefined
  let directoryUrl = ''

  beforeAll(async () => {
    netns = new GatewayNetns()
    netns.up()
    await netns.startMiniupnpd()
    ;({ child: directory, url: directoryUrl } = await serveDirectory(netns))
  }, 90_000)

  afterAll(async () => {
    await stopDirectory(directory)
    await netns?.down()
  }, 90_000)

  it('reports tier 1a from a UPnP mapping the directory reached from outside, then leaves nothing mapped on the router', async () => {
    expect(netns.nft()).not.toMatch(/dnat/)
    const run = await runCli(['nat', 'detect', '--directory', directoryUrl, '--port', '8090', '--json'], {}, ['ip', 'netns', 'exec', netns.lan])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout) as DetectReport & Record<string, unknown>
    expect(report).toMatchObject({
      tier: '1a',
      exposure_mode: 'ipv4_public_direct',
      endpoint: 'http://11.0.0.1:8090',
      transport_method: 'upnp_mapped',
      wan_address: '11.0.0.1',
      relay: null,
      port: 8090,
      advice: [],
    })
    // No container verdict: the LAN namespace routes through the router, even where CI runs in Docker.
    expect(report.tried.map((t) => t.step)).not.toContain('container')
    expect(report.tried).toContainEqual({ step: 'upnp', outcome: 'ok', detail: expect.stringContaining('http://11.0.0.1:8090 answered the reachability check') })

    // The router made the mapping to the CLI's listener, and the probe was deleted by its real port.
    expect(await netns.logLines(/#AddAnyPortMapping$/)).toBe(1)
    expect(await netns.logLines(/redirecting port 8090 to 10\.200\.0\.2:8090 protocol TCP/)).toBe(1)
    expect(await netns.logLines(/DeletePortMapping: external port: 8090, protocol: TCP/)).toBe(1)
    expect(netns.nft()).not.toMatch(/dport 8090/)
    expect(netns.leases()).not.toMatch(/^TCP:8090:/m)
    expect(await netns.wanFetch('http://11.0.0.1:8090', 1500)).toMatch(/^ERR:/)
  })
})

const cgnatTitle = skipReason
  ? `iicp nat detect on a host whose only address is in 100.64.0.0/10, in network namespaces (skipped: ${skipReason})`
  : 'iicp nat detect on a host whose only address is in 100.64.0.0/10, in network namespaces'

describe.skipIf(skipReason !== undefined)(cgnatTitle, { timeout: 90_000 }, () => {
  let netns: GatewayNetns
  let directory: ChildProcess | undefined
  let directoryUrl = ''

  beforeAll(async () => {
    netns = new GatewayNetns()
    netns.up()
    // No miniupnpd: the carrier's equipment answers neither UPnP nor NAT-PMP.
    netns.setLanAddress('100.64.0.2/24', '100.64.0.1/24')
    ;({ child: directory, url: directoryUrl } = await serveDirectory(netns))
  }, 90_000)

  afterAll(async () => {
    await stopDirectory(directory)
    await netns?.down()
  }, 90_000)

  it('reports tier 3 with a relay to elect, found from its own default route, and advises no port forward', async () => {
    const run = await runCli(['nat', 'detect', '--directory', directoryUrl, '--port', '8091', '--json'], {}, ['ip', 'netns', 'exec', netns.lan])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout) as DetectReport & { advice: string[] } & Record<string, unknown>
    expect(report).toMatchObject({
      tier: '3',
      exposure_mode: 'relay_required',
      endpoint: null,
      transport_method: 'turn_relay',
      relay: { elect: true },
      wan_address: null,
      port: 8091,
    })
    expect(report.tried.map((t) => t.step)).not.toContain('container')
    // The real /proc/net/route of the namespace: the route to 100.64.0.1 leaves from 100.64.0.2.
    expect(report.tried).toContainEqual({ step: 'cgnat', outcome: 'ok', detail: 'the default route leaves from 100.64.0.2 on eth0, in 100.64.0.0/10: carrier-grade NAT' })
    expect(report.tried).toContainEqual(expect.objectContaining({ step: 'upnp', outcome: 'failed' }))
    expect(report.tried).toContainEqual(expect.objectContaining({ step: 'nat_pmp', outcome: 'failed' }))
    expect(report.tried).toContainEqual({ step: 'ipv6_direct', outcome: 'skipped', detail: 'no global IPv6 address on any interface' })
    expect(report.advice).toEqual([expect.stringMatching(/^No direct route: this host's own address 100\.64\.0\.2 on eth0 is in 100\.64\.0\.0\/10.*relay it elects/)])
    expect(report.advice.join(' ')).not.toMatch(/forward TCP port/)
  })
})
