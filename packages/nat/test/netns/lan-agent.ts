/**
 * Runs inside the LAN namespace (spawned with `ip netns exec <lan> tsx ...`): serves a tiny HTTP
 * "node" on the given port and drives @iicp/nat against the real miniupnpd, taking one JSON command
 * per stdin line and answering one JSON line on stdout. Reachability checks are asked of the test
 * process, which dials from the WAN namespace.
 */
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'
import { natPmp, reachabilityManager, upnp, upnpFirewall } from '../../src/index.js'
import type { Pinhole, PortMapper, PortMapping, ReachabilityManager } from '../../src/index.js'
import type { Logger } from '@iicp/protocol'
import { ManualClock } from '../manual-clock.js'

const port = Number(process.argv[2])
// Every gateway in these tests answers, and a search ends with the first answer, so long limits cost nothing
// and keep a loaded machine from turning a slow answer into a miss.
const igdOptions = { discoveryTimeoutMs: 10_000, requestTimeoutMs: 10_000 }
const clock = new ManualClock()
// NAT-PMP retransmits after initialTimeoutMs (250 ms by default); on a loaded machine the gateway's answer can
// take longer, and the resent request is a second line in miniupnpd's log, which the tests count. A patient
// first wait keeps one request per operation.
const pmpOptions = { gateway: '10.200.0.1', initialTimeoutMs: 5_000, clock }
const mappers = new Map<string, PortMapper>()
const mappings = new Map<string, PortMapping>()
const pinholes = new Map<string, Pinhole>()
const firewall = upnpFirewall({ ...igdOptions, clock })
let manager: ReachabilityManager | undefined
const verifyWaiters = new Map<number, (ok: boolean) => void>()
let nextVerify = 1

// Every renewal the manager runs ends in one of these log lines; 'advance' waits for them instead of
// polling against a deadline, so a slow gateway round trip under load only makes the test slower.
const RENEWAL_ENDS = new Set(['lease renewed', 'lease renewal failed; retrying while the lease lasts', 'lease ran out before it could be renewed; the advertised route is gone'])
let renewalsEnded = 0
let renewalsFailed = 0
let onRenewalEnd: (() => void) | undefined
const renewalLog = (failed: boolean) => (_obj: object, msg?: string): void => {
  if (msg === undefined || !RENEWAL_ENDS.has(msg)) return
  renewalsEnded++
  if (failed) renewalsFailed++
  onRenewalEnd?.()
}
const managerLogger: Logger = {
  debug: renewalLog(false),
  info: () => {},
  warn: renewalLog(true),
  error: () => {},
  child: () => managerLogger,
}

async function renewalsEndedAtLeast(count: number): Promise<void> {
  while (renewalsEnded < count) await new Promise<void>((resolve) => (onRenewalEnd = resolve))
  onRenewalEnd = undefined
}

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('lan-ok')
})

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

function mapperFor(kind: string): PortMapper {
  let m = mappers.get(kind)
  if (!m) {
    m = kind === 'natpmp' ? natPmp(pmpOptions) : upnp({ ...igdOptions, clock })
    mappers.set(kind, m)
  }
  return m
}

async function handle(cmd: Record<string, unknown>): Promise<unknown> {
  switch (cmd.op) {
    case 'external':
      return { address: await mapperFor(String(cmd.kind)).externalAddress() }
    case 'map': {
      const mapping = await mapperFor(String(cmd.kind)).map({
        internalPort: port,
        externalPort: Number(cmd.externalPort),
        ...(cmd.leaseSeconds !== undefined ? { leaseSeconds: Number(cmd.leaseSeconds) } : {}),
      })
      mappings.set(String(cmd.kind), mapping)
      return { mapping }
    }
    case 'refresh': {
      const kind = String(cmd.kind)
      const current = mappings.get(kind)
      if (!current) throw new Error('no mapping')
      const mapping = await mapperFor(kind).refresh(current)
      mappings.set(kind, mapping)
      return { mapping }
    }
    case 'unmap': {
      const kind = String(cmd.kind)
      const current = mappings.get(kind)
      if (!current) throw new Error('no mapping')
      await mapperFor(kind).unmap(current)
      mappings.delete(kind)
      return { ok: true }
    }
    case 'pinhole': {
      const pinhole = await firewall.open({ internalHost: String(cmd.host), internalPort: port, leaseSeconds: Number(cmd.leaseSeconds ?? 600) })
      pinholes.set('one', pinhole)
      return { pinhole }
    }
    case 'refreshPinhole': {
      const current = pinholes.get('one')
      if (!current) throw new Error('no pinhole')
      const pinhole = await firewall.refresh(current)
      pinholes.set('one', pinhole)
      return { pinhole }
    }
    case 'deletePinhole': {
      const current = pinholes.get('one')
      if (!current) throw new Error('no pinhole')
      await firewall.delete(current)
      return { ok: true }
    }
    case 'manager': {
      manager = reachabilityManager({
        port,
        clock,
        logger: managerLogger,
        env: {},
        networkInterfaces: () => ({}),
        detectContainer: async () => undefined,
        // `only: 'natpmp'` climbs the ladder with the NAT-PMP client alone (UPnP would win otherwise).
        ...(cmd.only === 'natpmp' ? { findGateway: async () => ({ mappers: [natPmp({ ...pmpOptions, leaseSeconds: Number(cmd.leaseSeconds ?? 600) })] }) } : {}),
        upnp: { ...igdOptions, leaseSeconds: Number(cmd.leaseSeconds ?? 600), clock },
        natPmp: pmpOptions,
        verifyReachable: (url) =>
          new Promise<boolean>((resolve) => {
            const id = nextVerify++
            verifyWaiters.set(id, resolve)
            send({ verify: url, id })
          }),
      })
      return { result: await manager.start() }
    }
    case 'advance': {
      const ended = renewalsEnded
      // Each timer that fires is one renewal; wait until each has its answer from the gateway.
      const fired = clock.advance(Number(cmd.ms))
      await renewalsEndedAtLeast(ended + fired)
      return { fired, renewals: manager?.renewals ?? 0, failedRenewals: renewalsFailed }
    }
    case 'closeManager':
      await manager?.close()
      return { ok: true }
    case 'close':
      await manager?.close()
      for (const m of mappers.values()) await m.close()
      await firewall.close()
      server.close()
      return { ok: true }
    default:
      throw new Error(`unknown op ${String(cmd.op)}`)
  }
}

server.listen({ port, host: '::', ipv6Only: false }, () => {
  send({ ready: true })
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    const cmd = JSON.parse(line) as Record<string, unknown>
    if (typeof cmd.verified === 'boolean') {
      verifyWaiters.get(Number(cmd.id))?.(cmd.verified)
      verifyWaiters.delete(Number(cmd.id))
      return
    }
    handle(cmd).then(
      (out) => {
        send({ id: cmd.id, ok: true, ...(out as object) })
        if (cmd.op === 'close') process.exit(0)
      },
      (err: unknown) => send({ id: cmd.id, ok: false, error: err instanceof Error ? { message: err.message, code: (err as { code?: string }).code } : String(err) }),
    )
  })
  lines.on('close', () => process.exit(0))
})
