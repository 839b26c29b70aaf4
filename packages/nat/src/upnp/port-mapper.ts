/**
 * `upnp()`: port mappings through an IGD's WANIPConnection:2/:1 or WANPPPConnection:1 service
 * (WANIPConnection:2 §2.5). IGDv2 gets AddAnyPortMapping, falling back to AddPortMapping; deletion
 * always names the real external port and protocol.
 */
import { isIP } from 'node:net'
import { IicpError, isIicpError } from '@iicp/protocol'
import { resolveUpnpOptions } from '../options.js'
import type { UpnpOptions } from '../options.js'
import { localAddressToward } from '../local-route.js'
import type { CallOptions, MapRequest, MappingProtocol, PortMapper, PortMapping } from '../types.js'
import type { IgdDescription, IgdService } from './device-description.js'
import { discoverGateway } from './discover-gateway.js'
import { gatewayDispatcher } from './http.js'
import { bareHost } from './ssdp.js'
import { soapCall, UPNP_ERROR, upnpErrorCode } from './soap.js'

const MAX_CONFLICT_RETRIES = 3

/** A UPnP IGD port mapper (WANIPConnection:1/2, WANPPPConnection:1). */
export function upnp(options: UpnpOptions = {}): PortMapper {
  const opts = resolveUpnpOptions(options)
  const dispatcher = gatewayDispatcher()
  const held = new Map<string, PortMapping>()
  const shutdown = new AbortController()
  let gateway: Promise<IgdDescription> | undefined
  let closing: Promise<void> | undefined
  // Maps still in flight; close() waits for them so each can undo itself before the pool closes.
  const inflight = new Set<Promise<unknown>>()

  const signalFor = (call?: CallOptions): AbortSignal =>
    call?.signal ? AbortSignal.any([call.signal, shutdown.signal]) : shutdown.signal

  async function service(call?: CallOptions): Promise<IgdService> {
    if (closing) throw new IicpError('service_unavailable', 'The UPnP mapper is closed')
    if (!gateway) {
      gateway = discoverGateway(dispatcher, opts, 'wanConnection', shutdown.signal)
      // Callers see the failure through their own await; this only marks the shared promise handled.
      gateway.catch(() => undefined)
    }
    try {
      const found = await raceSignal(gateway, call?.signal)
      if (!found.wanConnection) throw new IicpError('not_found', 'The gateway has no WAN connection service')
      return found.wanConnection
    } catch (err) {
      // A failed discovery is not cached: the next call searches again.
      gateway = undefined
      throw err
    }
  }

  async function externalAddress(call?: CallOptions): Promise<string> {
    const svc = await service(call)
    const out = await soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action: 'GetExternalIPAddress',
      args: [],
      timeoutMs: opts.requestTimeoutMs,
      signal: signalFor(call),
    })
    const address = out.NewExternalIPAddress ?? ''
    if (isIP(address) !== 4 || address === '0.0.0.0') {
      throw new IicpError('service_unavailable', `The gateway reports no usable external IPv4 address (${address || 'empty'}): its WAN side is down, needs authorization, or is itself behind carrier-grade NAT`, {
        extra: { wan_address_missing: true },
      })
    }
    return address
  }

  async function addPortMapping(svc: IgdService, m: Omit<PortMapping, 'expiresAt'>, call?: CallOptions): Promise<void> {
    await soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action: 'AddPortMapping',
      args: portMappingArgs(m),
      timeoutMs: opts.requestTimeoutMs,
      signal: signalFor(call),
    })
  }

  async function addAnyPortMapping(svc: IgdService, m: Omit<PortMapping, 'expiresAt'>, call?: CallOptions): Promise<number> {
    const out = await soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action: 'AddAnyPortMapping',
      args: portMappingArgs(m),
      timeoutMs: opts.requestTimeoutMs,
      signal: signalFor(call),
    })
    const reserved = Number(out.NewReservedPort)
    if (!Number.isInteger(reserved) || reserved < 1 || reserved > 65535) {
      throw new IicpError('invalid_response', 'The gateway answered AddAnyPortMapping without a valid NewReservedPort')
    }
    return reserved
  }

  function map(request: MapRequest, call?: CallOptions): Promise<PortMapping> {
    const running = mapOnce(request, call)
    inflight.add(running)
    void running.then(
      () => inflight.delete(running),
      () => inflight.delete(running),
    )
    return running
  }

  async function mapOnce(request: MapRequest, call?: CallOptions): Promise<PortMapping> {
    const svc = await service(call)
    const protocol: MappingProtocol = request.protocol ?? 'TCP'
    const internalHost = opts.internalClient ?? (await localAddressToward(bareHost(svc.controlUrl)))
    const externalHost = await externalAddress(call)
    let wanted: Omit<PortMapping, 'expiresAt'> = {
      method: 'upnp',
      protocol,
      internalHost,
      internalPort: request.internalPort,
      externalHost,
      externalPort: request.externalPort ?? request.internalPort,
      leaseSeconds: request.leaseSeconds ?? opts.leaseSeconds,
      description: request.description ?? opts.description,
    }
    let granted: Omit<PortMapping, 'expiresAt'> | undefined

    if (svc.serviceType.endsWith(':2')) {
      try {
        const reserved = await addAnyPortMapping(svc, wanted, call)
        granted = { ...wanted, externalPort: reserved }
      } catch (err) {
        const code = upnpErrorCode(err)
        // Only "this gateway does not do AddAnyPortMapping" falls back; a refusal is final.
        if (code !== UPNP_ERROR.invalidAction && code !== UPNP_ERROR.optionalActionNotImplemented && code !== UPNP_ERROR.actionFailed) throw err
        opts.logger.debug({ code }, 'AddAnyPortMapping unsupported, falling back to AddPortMapping')
      }
    }

    for (let attempt = 0; !granted; attempt++) {
      try {
        await addPortMapping(svc, wanted, call)
        granted = wanted
      } catch (err) {
        const code = upnpErrorCode(err)
        if (code === UPNP_ERROR.onlyPermanentLeasesSupported && wanted.leaseSeconds !== 0) {
          wanted = { ...wanted, leaseSeconds: 0 }
        } else if (code === UPNP_ERROR.samePortValuesRequired && wanted.externalPort !== wanted.internalPort) {
          wanted = { ...wanted, externalPort: wanted.internalPort }
        } else if (code === UPNP_ERROR.conflictInMappingEntry && attempt < MAX_CONFLICT_RETRIES) {
          // Another LAN host owns this external port; ask for a random high one instead.
          wanted = { ...wanted, externalPort: 1024 + Math.floor(Math.random() * (65535 - 1024)) }
        } else {
          throw err
        }
      }
    }
    const mapping: PortMapping = { ...granted, expiresAt: expiry(granted.leaseSeconds) }
    if (closing) {
      // close() ran while this mapping was being made: undo it rather than leave it behind.
      await deletePortMapping(svc, mapping).catch(() => undefined)
      throw new IicpError('service_unavailable', 'The UPnP mapper was closed while mapping')
    }
    held.set(key(mapping.protocol, mapping.externalPort), mapping)
    opts.logger.info(
      { protocol, internalPort: mapping.internalPort, externalPort: mapping.externalPort, leaseSeconds: mapping.leaseSeconds, service: svc.serviceType },
      'UPnP port mapping created',
    )
    return mapping
  }

  async function refresh(mapping: PortMapping, call?: CallOptions): Promise<PortMapping> {
    if (mapping.leaseSeconds === 0) return mapping
    const svc = await service(call)
    // Re-adding the same external port for the same internal client renews it (WANIPConnection:2 §2.5.16).
    await addPortMapping(svc, mapping, call)
    const renewed: PortMapping = { ...mapping, expiresAt: expiry(mapping.leaseSeconds) }
    held.set(key(renewed.protocol, renewed.externalPort), renewed)
    return renewed
  }

  async function deletePortMapping(svc: IgdService, mapping: PortMapping, signal?: AbortSignal): Promise<void> {
    try {
      await soapCall(dispatcher, {
        controlUrl: svc.controlUrl,
        serviceType: svc.serviceType,
        action: 'DeletePortMapping',
        args: [
          ['NewRemoteHost', ''],
          ['NewExternalPort', mapping.externalPort],
          ['NewProtocol', mapping.protocol],
        ],
        timeoutMs: opts.requestTimeoutMs,
        signal,
      })
    } catch (err) {
      if (upnpErrorCode(err) !== UPNP_ERROR.noSuchEntry) throw err
    }
    held.delete(key(mapping.protocol, mapping.externalPort))
    opts.logger.info({ protocol: mapping.protocol, externalPort: mapping.externalPort }, 'UPnP port mapping deleted')
  }

  async function unmap(mapping: PortMapping, call?: CallOptions): Promise<void> {
    await deletePortMapping(await service(call), mapping, call?.signal)
  }

  function expiry(leaseSeconds: number): number {
    return leaseSeconds === 0 ? Number.POSITIVE_INFINITY : opts.clock.now() + leaseSeconds * 1000
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await Promise.allSettled([...inflight])
      // Deletions run before the shutdown signal fires, so they are not aborted by it.
      const pending = [...held.values()]
      const svc = pending.length > 0 && gateway ? await gateway.then((g) => g.wanConnection).catch(() => undefined) : undefined
      if (svc) {
        for (const mapping of pending) {
          try {
            await deletePortMapping(svc, mapping)
          } catch (err) {
            // Best effort at shutdown: the lease still ends on its own; say so instead of throwing.
            opts.logger.warn({ externalPort: mapping.externalPort, code: isIicpError(err) ? err.code : 'unknown' }, 'could not delete a UPnP mapping on close')
          }
        }
      }
      held.clear()
      shutdown.abort()
      await dispatcher.close()
    })()
    return closing
  }

  return { method: 'upnp', map, unmap, refresh, externalAddress, close }
}

function portMappingArgs(m: Omit<PortMapping, 'expiresAt'>): ReadonlyArray<readonly [string, string | number]> {
  return [
    ['NewRemoteHost', ''],
    ['NewExternalPort', m.externalPort],
    ['NewProtocol', m.protocol],
    ['NewInternalPort', m.internalPort],
    ['NewInternalClient', m.internalHost],
    ['NewEnabled', 1],
    ['NewPortMappingDescription', m.description],
    ['NewLeaseDuration', m.leaseSeconds],
  ]
}

function key(protocol: MappingProtocol, externalPort: number): string {
  return `${protocol}:${externalPort}`
}

/** Await `promise` unless `signal` aborts first (the shared discovery keeps running for others). */
export async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) throw new IicpError('aborted', 'Aborted by caller')
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new IicpError('aborted', 'Aborted by caller'))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
