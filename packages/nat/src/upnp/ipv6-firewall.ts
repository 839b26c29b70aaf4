/**
 * `upnpFirewall()`: IPv6 pinholes through an IGD's WANIPv6FirewallControl:1 service
 * (WANIPv6FirewallControl:1 §2.5). Every action goes to that service's own control URL, not to the
 * WANIPConnection one (a shortcut only miniupnpd forgives).
 */
import { isIP } from 'node:net'
import { IicpError, isIicpError } from '@iicp/protocol'
import { int, resolveUpnpOptions } from '../options.js'
import type { UpnpOptions } from '../options.js'
import type { CallOptions, FirewallStatus, Ipv6Firewall, MappingProtocol, Pinhole, PinholeRequest } from '../types.js'
import type { IgdDescription, IgdService } from './device-description.js'
import { discoverGateway } from './discover-gateway.js'
import { gatewayDispatcher } from './http.js'
import { raceSignal } from './port-mapper.js'
import { soapCall, UPNP_ERROR, upnpErrorCode } from './soap.js'

/** IANA protocol numbers the pinhole actions take. */
const PROTOCOL_NUMBER: Record<MappingProtocol, number> = { TCP: 6, UDP: 17 }
/** Pinhole leases are 1..86400 s (WANIPv6FirewallControl:1 §2.5.4). */
const MAX_PINHOLE_LEASE = 86_400

/** IPv6 pinholes via UPnP WANIPv6FirewallControl:1. */
export function upnpFirewall(options: UpnpOptions = {}): Ipv6Firewall {
  const opts = resolveUpnpOptions(options)
  const defaultLease = Math.min(Math.max(opts.leaseSeconds, 1), MAX_PINHOLE_LEASE)
  const dispatcher = gatewayDispatcher(opts.internalClient && isIP(opts.internalClient) === 6 ? opts.internalClient : undefined)
  const held = new Map<string, Pinhole>()
  const shutdown = new AbortController()
  let gateway: Promise<IgdDescription> | undefined
  let closing: Promise<void> | undefined
  // Opens still in flight; close() waits for them so each can undo itself before the pool closes.
  const inflight = new Set<Promise<unknown>>()

  const signalFor = (call?: CallOptions): AbortSignal =>
    call?.signal ? AbortSignal.any([call.signal, shutdown.signal]) : shutdown.signal

  async function service(call?: CallOptions): Promise<IgdService> {
    if (closing) throw new IicpError('service_unavailable', 'The IPv6 firewall client is closed')
    if (!gateway) {
      gateway = discoverGateway(dispatcher, opts, 'ipv6Firewall', shutdown.signal)
      // Callers see the failure through their own await; this only marks the shared promise handled.
      gateway.catch(() => undefined)
    }
    try {
      const found = await raceSignal(gateway, call?.signal)
      if (!found.ipv6Firewall) throw new IicpError('not_found', 'The gateway has no WANIPv6FirewallControl:1 service')
      return found.ipv6Firewall
    } catch (err) {
      gateway = undefined
      throw err
    }
  }

  async function call(action: string, args: ReadonlyArray<readonly [string, string | number]>, options?: CallOptions, signal?: AbortSignal): Promise<Record<string, string>> {
    const svc = await service(options)
    return soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action,
      args,
      timeoutMs: opts.requestTimeoutMs,
      signal: signal ?? signalFor(options),
    })
  }

  async function status(options?: CallOptions): Promise<FirewallStatus> {
    const out = await call('GetFirewallStatus', [], options)
    return { firewallEnabled: out.FirewallEnabled === '1', inboundPinholeAllowed: out.InboundPinholeAllowed === '1' }
  }

  function open(request: PinholeRequest, options?: CallOptions): Promise<Pinhole> {
    const running = openOnce(request, options)
    inflight.add(running)
    void running.then(
      () => inflight.delete(running),
      () => inflight.delete(running),
    )
    return running
  }

  async function openOnce(request: PinholeRequest, options?: CallOptions): Promise<Pinhole> {
    if (isIP(request.internalHost) !== 6) {
      throw new IicpError('invalid_config', 'A pinhole needs an IPv6 internalHost', { fields: { internalHost: ['must be an IPv6 address'] } })
    }
    const protocol = request.protocol ?? 'TCP'
    const leaseSeconds = int('leaseSeconds', request.leaseSeconds, defaultLease, 1, MAX_PINHOLE_LEASE)
    const svc = await service(options)
    const out = await soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action: 'AddPinhole',
      args: [
        // Empty RemoteHost and RemotePort 0 are the wildcards: any consumer may connect.
        ['RemoteHost', ''],
        ['RemotePort', 0],
        ['InternalClient', request.internalHost],
        ['InternalPort', request.internalPort],
        ['Protocol', PROTOCOL_NUMBER[protocol]],
        ['LeaseTime', leaseSeconds],
      ],
      timeoutMs: opts.requestTimeoutMs,
      signal: signalFor(options),
    })
    const uniqueId = out.UniqueID ?? ''
    if (!/^\d{1,5}$/.test(uniqueId)) throw new IicpError('invalid_response', 'The gateway answered AddPinhole without a UniqueID')
    const pinhole: Pinhole = {
      uniqueId,
      protocol,
      internalHost: request.internalHost,
      internalPort: request.internalPort,
      leaseSeconds,
      expiresAt: opts.clock.now() + leaseSeconds * 1000,
    }
    if (closing) {
      // close() ran while this pinhole was being opened: undo it rather than leave it behind.
      await deleteOn(svc, pinhole).catch(() => undefined)
      throw new IicpError('service_unavailable', 'The IPv6 firewall client was closed while opening a pinhole')
    }
    held.set(uniqueId, pinhole)
    opts.logger.info({ uniqueId, internalPort: pinhole.internalPort, leaseSeconds }, 'IPv6 pinhole opened')
    return pinhole
  }

  function deleteOn(svc: IgdService, pinhole: Pinhole): Promise<Record<string, string>> {
    return soapCall(dispatcher, {
      controlUrl: svc.controlUrl,
      serviceType: svc.serviceType,
      action: 'DeletePinhole',
      args: [['UniqueID', pinhole.uniqueId]],
      timeoutMs: opts.requestTimeoutMs,
    })
  }

  async function refresh(pinhole: Pinhole, options?: CallOptions): Promise<Pinhole> {
    await call('UpdatePinhole', [['UniqueID', pinhole.uniqueId], ['NewLeaseTime', pinhole.leaseSeconds]], options)
    const renewed: Pinhole = { ...pinhole, expiresAt: opts.clock.now() + pinhole.leaseSeconds * 1000 }
    held.set(renewed.uniqueId, renewed)
    return renewed
  }

  async function remove(pinhole: Pinhole, options?: CallOptions, signal?: AbortSignal): Promise<void> {
    try {
      await call('DeletePinhole', [['UniqueID', pinhole.uniqueId]], options, signal)
    } catch (err) {
      if (upnpErrorCode(err) !== UPNP_ERROR.noSuchPinhole) throw err
    }
    held.delete(pinhole.uniqueId)
    opts.logger.info({ uniqueId: pinhole.uniqueId }, 'IPv6 pinhole deleted')
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await Promise.allSettled([...inflight])
      const pending = [...held.values()]
      const svc = pending.length > 0 && gateway ? await gateway.then((g) => g.ipv6Firewall).catch(() => undefined) : undefined
      if (svc) {
        for (const pinhole of pending) {
          try {
            await deleteOn(svc, pinhole)
          } catch (err) {
            // Best effort at shutdown: the pinhole's lease still ends on its own.
            opts.logger.warn({ uniqueId: pinhole.uniqueId, code: isIicpError(err) ? err.code : 'unknown' }, 'could not delete an IPv6 pinhole on close')
          }
        }
      }
      held.clear()
      shutdown.abort()
      await dispatcher.close()
    })()
    return closing
  }

  return { status, open, refresh, delete: (pinhole, options) => remove(pinhole, options), close }
}
