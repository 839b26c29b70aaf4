/**
 * Binding the listen port (frm §11.1; official-sdks §3.6): an explicit port is used as given; otherwise
 * 9484, then 9485, 9486, … up to the band size, and the node advertises the port it actually bound.
 * Binding happens before registration, so a port conflict never leaves a stale directory entry.
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:net'
import { IicpError } from '@iicp/protocol'

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
  readonly searchSize: number
}

/** Listen according to the plan; returns the bound port. Throws IicpError `invalid_config` when nothing binds. */
export async function bindPort(server: Server, plan: PortPlan): Promise<number> {
  const candidates = plan.port !== undefined ? [plan.port] : Array.from({ length: plan.searchSize }, (_, i) => plan.basePort + i).filter((p) => p <= 65535)
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
  const what = plan.port !== undefined ? `port ${plan.port}` : `ports ${plan.basePort}–${plan.basePort + plan.searchSize - 1}`
  throw new IicpError('invalid_config', `cannot listen on ${plan.host} ${what}: ${last?.code ?? 'unknown error'}`, { cause: last })
}
