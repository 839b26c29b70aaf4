/**
 * SOAP control calls to an IGD service (UPnP Device Architecture 2.0 §3.2) and the UPnP error codes
 * they can fail with (WANIPConnection:2 §2.4, WANIPv6FirewallControl:1 §2.4).
 */
import type { Agent } from 'undici'
import { XMLParser } from 'fast-xml-parser'
import { IicpError, isIicpError } from '@iicp/protocol'
import { gatewayFetch, safeUrl } from './http.js'

/** UPnP error codes the mapper reacts to. */
export const UPNP_ERROR = {
  invalidAction: 401,
  invalidArgs: 402,
  actionFailed: 501,
  notAuthorized: 606,
  optionalActionNotImplemented: 602,
  noSuchEntry: 714,
  conflictInMappingEntry: 718,
  samePortValuesRequired: 724,
  onlyPermanentLeasesSupported: 725,
  noPortMapsAvailable: 728,
  pinholeSpaceExhausted: 701,
  firewallDisabled: 702,
  inboundPinholeNotAllowed: 703,
  noSuchPinhole: 704,
} as const

const SOAP_MAX_BYTES = 64 * 1024

/** Built once: every description and SOAP answer goes through this parser. */
export const xmlParser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
})

export interface SoapCall {
  controlUrl: string
  serviceType: string
  action: string
  /** Arguments in the order the service description lists them (some routers insist). */
  args: ReadonlyArray<readonly [string, string | number]>
  timeoutMs: number
  signal?: AbortSignal | undefined
}

/** Error carrying the UPnP code, so callers can branch on 718/725 without parsing text. */
export function upnpErrorCode(err: unknown): number | undefined {
  if (isIicpError(err) && typeof err.extra?.upnp_error_code === 'number') return err.extra.upnp_error_code
  return undefined
}

/** Invoke one action; resolves with the response arguments as strings. */
export async function soapCall(dispatcher: Agent, call: SoapCall): Promise<Record<string, string>> {
  const body = envelope(call.serviceType, call.action, call.args)
  const res = await gatewayFetch(dispatcher, call.controlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'text/xml; charset="utf-8"',
      soapaction: `"${call.serviceType}#${call.action}"`,
    },
    body,
    timeoutMs: call.timeoutMs,
    maxBytes: SOAP_MAX_BYTES,
    signal: call.signal,
  })
  const parsed = parseXml(res.body, call)
  const envelopeBody = record(record(parsed?.Envelope)?.Body)
  if (res.status >= 200 && res.status < 300) {
    const out = record(envelopeBody?.[`${call.action}Response`])
    if (!out && envelopeBody?.[`${call.action}Response`] !== '') {
      throw new IicpError('invalid_response', `Gateway answered ${call.action} without a ${call.action}Response`)
    }
    const values: Record<string, string> = {}
    for (const [k, v] of Object.entries(out ?? {})) if (typeof v === 'string') values[k] = v
    return values
  }
  const detail = record(record(record(envelopeBody?.Fault)?.detail)?.UPnPError)
  const code = Number(detail?.errorCode)
  if (!Number.isInteger(code)) {
    throw new IicpError('service_unavailable', `Gateway answered ${call.action} with HTTP ${res.status}`, { extra: { upnp_action: call.action } })
  }
  const description = typeof detail?.errorDescription === 'string' ? detail.errorDescription.slice(0, 120) : ''
  throw upnpError(call.action, code, description)
}

function upnpError(action: string, code: number, description: string): IicpError {
  const text = `Gateway refused ${action}: UPnP error ${code}${description ? ` (${description})` : ''}`
  const extra = { upnp_error_code: code, upnp_action: action }
  if (code === UPNP_ERROR.notAuthorized || code === UPNP_ERROR.inboundPinholeNotAllowed || code === UPNP_ERROR.firewallDisabled) {
    return new IicpError('forbidden', text, { extra })
  }
  if (code === UPNP_ERROR.conflictInMappingEntry) return new IicpError('conflict', text, { extra })
  if (code === UPNP_ERROR.noSuchEntry || code === UPNP_ERROR.noSuchPinhole) return new IicpError('not_found', text, { extra })
  return new IicpError('service_unavailable', text, { extra })
}

function parseXml(text: string, call: SoapCall): Record<string, unknown> | undefined {
  try {
    return record(xmlParser.parse(text))
  } catch (err) {
    throw new IicpError('invalid_response', `Gateway at ${safeUrl(call.controlUrl)} answered ${call.action} with malformed XML`, { cause: err })
  }
}

function envelope(serviceType: string, action: string, args: SoapCall['args']): string {
  const inner = args.map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`).join('')
  return (
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${inner}</u:${action}></s:Body></s:Envelope>\r\n`
  )
}

/** Escape text for an XML element or attribute. */
export function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c)
}

/** Narrow parsed XML to an object node (fast-xml-parser returns '' for empty elements). */
export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}
