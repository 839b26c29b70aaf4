/**
 * `natPmp()`: port mappings with NAT-PMP (RFC 6886). Lifetimes travel in seconds, requests are
 * retransmitted with a doubling timeout (§3.1), and only the gateway's own answers count, because
 * the socket is connected to it.
 */
import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'
import { IicpError, isIicpError } from '@iicp/protocol'
import { localAddressToward, defaultGatewayIpv4 } from './local-route.js'
import { resolveNatPmpOptions } from './options.js'
import type { NatPmpOptions } from './options.js'
import type { CallOptions, MapRequest, MappingProtocol, PortMapper, PortMapping } from './types.js'

const OP_EXTERNAL_ADDRESS = 0
const OP_MAP_UDP = 1
const OP_MAP_TCP = 2

/** RFC 6886 §3.5 result codes, as operator-readable text. */
const RESULT_TEXT: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized or refused (NAT-PMP disabled on the router?)',
  3: 'network failure (the gateway has no WAN address yet)',
  4: 'out of resources',
  5: 'unsupported opcode',
}

/** A NAT-PMP port mapper (RFC 6886). */
export function natPmp(options: NatPmpOptions = {}): PortMapper {
  const opts = resolveNatPmpOptions(options)
  const held = new Map<string, PortMapping>()
  const shutdown = new AbortController()
  let socket: Promise<{ socket: Socket; gateway: string }> | undefined
  let queue: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined
  // Maps still in flight; close() waits for them so each can undo itself before the socket closes.
  const inflight = new Set<Promise<unknown>>()

  function connect(): Promise<{ socket: Socket; gateway: string }> {
    socket ??= (async () => {
      const gateway = opts.gateway ?? (await defaultGatewayIpv4())
      if (!gateway) throw new IicpError('not_found', 'No IPv4 default gateway to ask for NAT-PMP (pass the gateway option)')
      const s = createSocket('udp4')
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.connect(opts.port, gateway, () => {
          s.off('error', reject)
          resolve()
        })
      })
      // Late ICMP errors after a request has settled land here; requests report their own failures.
      s.on('error', (err) => opts.logger.debug({ err }, 'NAT-PMP socket error'))
      return { socket: s, gateway }
    })().catch((err: unknown) => {
      socket = undefined
      throw isIicpError(err) ? err : new IicpError('connection_failed', 'Could not open a NAT-PMP socket', { cause: err })
    })
    return socket
  }

  /** One request at a time: answers carry no request id, only the opcode. */
  function exchange(request: Buffer, expectOp: number, minLength: number, call?: CallOptions): Promise<Buffer> {
    const run = async (): Promise<Buffer> => {
      const { socket: s, gateway } = await connect()
      const signal = call?.signal
      return new Promise<Buffer>((resolve, reject) => {
        let attempt = 0
        let timer: ReturnType<typeof setTimeout> | undefined
        const cleanup = (): void => {
          if (timer) clearTimeout(timer)
          s.off('message', onMessage)
          signal?.removeEventListener('abort', onAbort)
        }
        const onAbort = (): void => {
          cleanup()
          reject(new IicpError('aborted', 'NAT-PMP request aborted'))
        }
        const onMessage = (msg: Buffer): void => {
          if (msg.length < 4 || msg[0] !== 0 || msg[1] !== expectOp) return
          cleanup()
          const result = msg.readUInt16BE(2)
          if (result !== 0) {
            reject(new IicpError(result === 2 ? 'forbidden' : 'service_unavailable', `NAT-PMP gateway ${gateway} refused: ${RESULT_TEXT[result] ?? `result code ${result}`}`, { extra: { natpmp_result_code: result, ...(result === 3 ? { wan_address_missing: true } : {}) } }))
          } else if (msg.length < minLength) {
            reject(new IicpError('invalid_response', `NAT-PMP answer from ${gateway} is ${msg.length} bytes, expected ${minLength}`))
          } else {
            resolve(msg)
          }
        }
        const send = (): void => {
          if (attempt >= opts.retries) {
            cleanup()
            reject(new IicpError('timeout', `No NAT-PMP answer from ${gateway}:${opts.port} after ${opts.retries} tries`))
            return
          }
          const wait = opts.initialTimeoutMs * 2 ** attempt
          attempt++
          s.send(request, (err) => {
            if (err) opts.logger.debug({ err }, 'NAT-PMP send failed; retrying')
          })
          timer = setTimeout(send, wait)
        }
        if (signal?.aborted) return onAbort()
        signal?.addEventListener('abort', onAbort, { once: true })
        s.on('message', onMessage)
        send()
      })
    }
    const next = queue.then(run, run)
    queue = next.catch(() => undefined)
    return next
  }

  function assertOpen(): void {
    if (closing) throw new IicpError('service_unavailable', 'The NAT-PMP mapper is closed')
  }

  async function externalAddress(call?: CallOptions): Promise<string> {
    assertOpen()
    const msg = await exchange(Buffer.from([0, OP_EXTERNAL_ADDRESS]), 128 + OP_EXTERNAL_ADDRESS, 12, withShutdown(call))
    return `${msg[8]}.${msg[9]}.${msg[10]}.${msg[11]}`
  }

  async function request(protocol: MappingProtocol, internalPort: number, externalPort: number, lifetime: number, call?: CallOptions): Promise<{ externalPort: number; lifetime: number }> {
    const op = protocol === 'UDP' ? OP_MAP_UDP : OP_MAP_TCP
    const buf = Buffer.alloc(12)
    buf[0] = 0
    buf[1] = op
    buf.writeUInt16BE(internalPort, 4)
    buf.writeUInt16BE(externalPort, 6)
    buf.writeUInt32BE(lifetime, 8)
    const msg = await exchange(buf, 128 + op, 16, call)
    if (msg.readUInt16BE(8) !== internalPort) throw new IicpError('invalid_response', 'NAT-PMP answer names another internal port')
    return { externalPort: msg.readUInt16BE(10), lifetime: msg.readUInt32BE(12) }
  }

  const withShutdown = (call?: CallOptions): CallOptions => ({
    signal: call?.signal ? AbortSignal.any([call.signal, shutdown.signal]) : shutdown.signal,
  })

  function map(req: MapRequest, call?: CallOptions): Promise<PortMapping> {
    const running = mapOnce(req, call)
    inflight.add(running)
    void running.then(
      () => inflight.delete(running),
      () => inflight.delete(running),
    )
    return running
  }

  async function mapOnce(req: MapRequest, call?: CallOptions): Promise<PortMapping> {
    assertOpen()
    const protocol = req.protocol ?? 'TCP'
    const externalHost = await externalAddress(call)
    const { gateway } = await connect()
    const internalHost = await localAddressToward(gateway, opts.port)
    const lease = req.leaseSeconds && req.leaseSeconds > 0 ? req.leaseSeconds : opts.leaseSeconds
    const granted = await request(protocol, req.internalPort, req.externalPort ?? req.internalPort, lease, withShutdown(call))
    const mapping: PortMapping = {
      method: 'nat-pmp',
      protocol,
      internalHost,
      internalPort: req.internalPort,
      externalHost,
      externalPort: granted.externalPort,
      leaseSeconds: granted.lifetime,
      expiresAt: opts.clock.now() + granted.lifetime * 1000,
      description: req.description ?? '',
    }
    if (closing) {
      // close() ran while this mapping was being made: undo it rather than leave it behind.
      await request(protocol, req.internalPort, 0, 0).catch(() => undefined)
      throw new IicpError('service_unavailable', 'The NAT-PMP mapper was closed while mapping')
    }
    held.set(`${protocol}:${mapping.internalPort}`, mapping)
    opts.logger.info({ protocol, internalPort: mapping.internalPort, externalPort: mapping.externalPort, leaseSeconds: mapping.leaseSeconds }, 'NAT-PMP port mapping created')
    return mapping
  }

  async function refresh(mapping: PortMapping, call?: CallOptions): Promise<PortMapping> {
    assertOpen()
    const granted = await request(mapping.protocol, mapping.internalPort, mapping.externalPort, mapping.leaseSeconds, withShutdown(call))
    const renewed: PortMapping = { ...mapping, externalPort: granted.externalPort, leaseSeconds: granted.lifetime, expiresAt: opts.clock.now() + granted.lifetime * 1000 }
    held.set(`${mapping.protocol}:${mapping.internalPort}`, renewed)
    return renewed
  }

  async function unmap(mapping: PortMapping, call?: CallOptions): Promise<void> {
    // RFC 6886 §3.4: lifetime 0 and suggested external port 0 delete the mapping for this internal port.
    await request(mapping.protocol, mapping.internalPort, 0, 0, call)
    held.delete(`${mapping.protocol}:${mapping.internalPort}`)
    opts.logger.info({ protocol: mapping.protocol, internalPort: mapping.internalPort }, 'NAT-PMP port mapping deleted')
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await Promise.allSettled([...inflight])
      for (const mapping of [...held.values()]) {
        try {
          await unmap(mapping)
        } catch (err) {
          // Best effort at shutdown: the lease still ends on its own.
          opts.logger.warn({ internalPort: mapping.internalPort, code: isIicpError(err) ? err.code : 'unknown' }, 'could not delete a NAT-PMP mapping on close')
        }
      }
      held.clear()
      shutdown.abort()
      const open = socket ? await socket.catch(() => undefined) : undefined
      if (open) await new Promise<void>((resolve) => open.socket.close(() => resolve()))
      socket = undefined
    })()
    return closing
  }

  return { method: 'nat-pmp', map, unmap, refresh, externalAddress, close }
}
