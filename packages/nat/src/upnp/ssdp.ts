/**
 * SSDP M-SEARCH over node:dgram (UPnP Device Architecture 2.0 §1.3.2). The multicast address and port
 * are options so tests can aim the search at a responder on 127.0.0.1.
 */
import { createSocket } from 'node:dgram'
import { IicpError, isIicpError } from '@iicp/protocol'

/** The IGD search targets, IGDv2 first (an IGDv2 device also answers IGDv1 searches). */
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
] as const

/** Hostname of a URL without IPv6 brackets or zone, to compare with a datagram's source. */
export function bareHost(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, '').split('%')[0] ?? ''
}

/** One answer to an M-SEARCH. */
export interface SsdpAnswer {
  /** Description URL from the LOCATION header. */
  location: string
  st: string
  usn: string
  /** Source address of the answer; descriptions are only fetched from this host. */
  from: string
}

export interface SsdpSearchOptions {
  searchTargets: readonly string[]
  /** Where to send the searches; IPv6 link-local groups carry a scope (`ff02::c%eth0`). */
  multicastAddresses: readonly string[]
  multicastPort: number
  family: 4 | 6
  /** Seconds a device may wait before answering (MX). */
  mx: number
  /** How long to listen for answers. */
  timeoutMs: number
  signal?: AbortSignal | undefined
}

/**
 * Send the searches and yield each distinct LOCATION as it arrives; breaking out of the loop,
 * the timeout or the signal closes the socket.
 */
export async function* ssdpSearch(options: SsdpSearchOptions): AsyncGenerator<SsdpAnswer> {
  const socket = createSocket({ type: options.family === 6 ? 'udp6' : 'udp4', reuseAddr: false })
  const queue: SsdpAnswer[] = []
  const seen = new Set<string>()
  let done = false
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const finish = (): void => {
    done = true
    wake?.()
  }
  const timer = setTimeout(finish, options.timeoutMs)
  options.signal?.addEventListener('abort', finish, { once: true })
  socket.on('message', (msg, rinfo) => {
    const answer = parseAnswer(msg.toString('latin1'), rinfo.address)
    if (!answer || seen.has(answer.location)) return
    seen.add(answer.location)
    queue.push(answer)
    wake?.()
  })
  socket.on('error', (err) => {
    failure = err
    finish()
  })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    let sent = 0
    let lastError: unknown
    for (const address of options.multicastAddresses) {
      const host = options.family === 6 ? `[${address.split('%')[0]}]` : address
      for (const st of options.searchTargets) {
        const message = Buffer.from(
          'M-SEARCH * HTTP/1.1\r\n' +
            `HOST: ${host}:${options.multicastPort}\r\n` +
            'MAN: "ssdp:discover"\r\n' +
            `MX: ${options.mx}\r\n` +
            `ST: ${st}\r\n\r\n`,
          'latin1',
        )
        try {
          await new Promise<void>((resolve, reject) =>
            socket.send(message, options.multicastPort, address, (err) => (err ? reject(err) : resolve())),
          )
          sent++
        } catch (err) {
          // One interface without a route (e.g. no IPv6 default route) must not stop the others.
          lastError = err
        }
      }
    }
    if (sent === 0) throw lastError ?? new Error('no SSDP search address')
    while (true) {
      const next = queue.shift()
      if (next) {
        yield next
        continue
      }
      if (done) break
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
    if (failure) throw failure
    if (options.signal?.aborted) throw new IicpError('aborted', 'Gateway discovery aborted')
  } catch (err) {
    if (isIicpError(err)) throw err
    throw new IicpError('connection_failed', 'SSDP search failed', { cause: err })
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', finish)
    socket.removeAllListeners('message')
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve())
      } catch {
        // Already closed after a bind failure: nothing left to release.
        resolve()
      }
    })
  }
}

/** Parse an HTTP-over-UDP answer; anything that is not a 200 with a http(s) LOCATION is ignored. */
export function parseAnswer(text: string, from: string): SsdpAnswer | undefined {
  const lines = text.split('\r\n')
  if (!/^HTTP\/1\.[01] 200/i.test(lines[0] ?? '')) return undefined
  const headers = new Map<string, string>()
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim())
  }
  const location = headers.get('location')
  if (!location) return undefined
  try {
    const url = new URL(location)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  } catch {
    return undefined
  }
  return { location, st: headers.get('st') ?? '', usn: headers.get('usn') ?? '', from }
}
