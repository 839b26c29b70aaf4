/** Routable-endpoint rules for public mode (core §7 IICP-E035; dir §3.1). */
import { classifyHost } from '@iicp/protocol'

const LOCAL_SUFFIXES = ['.local', '.test', '.example', '.invalid', '.lan', '.internal', '.localhost', '.home.arpa']

/** URL hostname without IPv6 brackets. */
export function bareHost(url: URL): string {
  const h = url.hostname.toLowerCase()
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':')
}

/** Why a host is not routable from the public internet, or undefined when it is. */
export function unroutableReason(host: string): string | undefined {
  if (host === 'localhost') return `endpoint host '${host}' is not routable from external clients`
  for (const s of LOCAL_SUFFIXES) if (host.endsWith(s)) return `endpoint host '${host}' uses the non-public suffix ${s}`
  if (!isIpLiteral(host) && !host.includes('.')) return `endpoint host '${host}' is a bare name without a public domain`
  const cls = classifyHost(host)
  if (cls !== 'public') return `endpoint host '${host}' is in a ${cls.replace('_', ' ')} range`
  return undefined
}
