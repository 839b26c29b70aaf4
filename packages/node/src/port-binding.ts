/**
 * Binding the listen port (frm §11.1; official-sdks §3.6): an explicit port is used as given; otherwise 9484,
 * then upward through the instance band frm §11.1 sets aside for more nodes on one host (9485–9490), and the
 * node advertises the port it actually bound. The search passes over 9485, the relay accept port every SDK's
 * workers dial (official-sdks §5.1; §5.6 lists a second official node auto-incrementing onto it as a bug), and
 * over this node's own accept port. Binding happens before registration, so a port conflict never leaves a
 * stale directory entry.
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:net'
import { IicpError, RELAY_ACCEPT_PORT } from '@iicp/protocol'

function listenOnce(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening)
      reject(err)
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port, exclusive: true })
  })
}

/** What to bind. */
export interface PortPlan {
  readonly host: string
  /** Explicit port (0 = any): tried once. */
  readonly port: number | undefined
  readonly basePort: number
  /** How many ports the search covers, `basePort` included (skipped ones count, so it never leaves the band). */
  readonly searchSize: number
  /** Ports the search passes over (they are still used when given as the explicit `port`). */
  readonly skip?: readonly number[]
}

/** The HTTP port plan of a node: the relay accept ports are never taken by the auto-increment search. */
export function nodePortPlan(o: { host: string; port: number | undefined; basePort: number; portSearchSize: number; relayAcceptPort: number | undefined }, explicitPort: number | undefined): PortPlan {
  const skip = o.relayAcceptPort !== undefined && o.relayAcceptPort !== 0 && o.relayAcceptPort !== RELAY_ACCEPT_PORT ? [RELAY_ACCEPT_PORT, o.relayAcceptPort] : [RELAY_ACCEPT_PORT]
  return { host: o.host, port: explicitPort, basePort: o.basePort, searchSize: o.portSearchSize, skip }
}

/** The ports a plan tries, in order: the explicit one, else `basePort` … `basePort + searchSize - 1` minus `skip`. */
export function portCandidates(plan: PortPlan): number[] {
  if (plan.port !== undefined) return [plan.port]
  const skip = new Set(plan.skip ?? [])
  const out: number[] = []
  for (let p = plan.basePort; p < plan.basePort + plan.searchSize && p <= 65535; p++) if (!skip.has(p)) out.push(p)
  return out
}

function describePorts(candidates: readonly number[], plan: PortPlan): string {
  if (plan.port !== undefined) return `port ${plan.port}`
  const first = candidates[0]
  const last = candidates[candidates.length - 1]
  if (first === undefined || last === undefined) return `ports from ${plan.basePort}`
  const skipped = (plan.skip ?? []).filter((p) => p > first && p < last)
  return `ports ${first}–${last}${skipped.length > 0 ? ` (skipping ${skipped.join(', ')}, the relay accept port)` : ''}`
}

/** Listen according to the plan; returns the bound port. Throws IicpError `invalid_config` when nothing binds. */
export async function bindPort(server: Server, plan: PortPlan): Promise<number> {
  const candidates = portCandidates(plan)
  let last: NodeJS.ErrnoException | undefined
  for (const port of candidates) {
    try {
      return await listenOnce(server, plan.host, port)
    } catch (err) {
      last = err as NodeJS.ErrnoException
      // Only a taken port moves the search on; a bad host or missing permission will not improve.
      if (last.code !== 'EADDRINUSE' || plan.port !== undefined) break
    }
  }
  throw new IicpError('invalid_config', `cannot listen on ${plan.host} ${describePorts(candidates, plan)}: ${last?.code ?? 'unknown error'}`, { cause: last })
}
