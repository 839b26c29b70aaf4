/**
 * Provider endpoint security (pre-normative endpoint-security profile v1; wire.md §5.3): only http/https without
 * userinfo; every resolved address must be globally routable unless the caller opted in to private endpoints;
 * local-looking names are refused; redirects only same-origin 307/308, at most 3, re-validated. Pure functions.
 */
import { classifyHost } from '@iicp/protocol'

const LOCAL_SUFFIXES = ['.local', '.localhost', '.internal', '.lan', '.home', '.test', '.invalid', '.example', '.arpa']

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':')
}

/** true when every address is public (or private ones are explicitly allowed); an empty or mixed answer is refused. */
export function addressAllowed(addresses: readonly string[], allowPrivate: boolean): boolean {
  if (addresses.length === 0) return false
  if (allowPrivate) return true
  return addresses.every((a) => classifyHost(stripBrackets(a)) === 'public')
}

/** true when a host name (not an IP literal) may be dialled without the private opt-in. */
export function hostnameAllowed(host: string): boolean {
  const h = stripBrackets(host).toLowerCase().replace(/\.$/, '')
  if (isIpLiteral(h)) return addressAllowed([h], false)
  if (h === 'localhost' || !h.includes('.')) return false
  if (LOCAL_SUFFIXES.some((s) => h.endsWith(s))) return false
  return classifyHost(h) === 'public'
}

/** A node endpoint split for the dispatcher, or why it was refused. */
export type EndpointCheck =
  | { readonly ok: true; readonly origin: string; readonly basePath: string; readonly host: string }
  | { readonly ok: false; readonly reason: string }

/** Validate a discovered `endpoint` URL before anything is sent to it. */
export function checkEndpoint(endpoint: string, allowPrivate: boolean): EndpointCheck {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return { ok: false, reason: 'endpoint is not a URL' }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `scheme ${url.protocol} not allowed` }
  if (url.username || url.password) return { ok: false, reason: 'endpoint carries credentials' }
  if (url.search || url.hash) return { ok: false, reason: 'endpoint carries a query or fragment' }
  if (!allowPrivate && !hostnameAllowed(url.hostname)) return { ok: false, reason: 'endpoint host is not public' }
  return { ok: true, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), host: url.hostname }
}

/**
 * Whether a page in a browser could call this node (official-sdks.md §2.2, `browser_usable_only`): the directory marks
 * it `browser_usable`, or its endpoint is https, or it is http on a loopback host (a page may call its own machine;
 * the official SDKs keep those too). Any other http endpoint would be blocked as mixed content.
 */
export function isBrowserUsable(node: { readonly endpoint?: string | undefined; readonly browser_usable?: unknown }): boolean {
  if (node.browser_usable === true) return true
  const endpoint = node.endpoint
  if (typeof endpoint !== 'string') return false
  // The common case without a URL parse.
  if (endpoint.startsWith('https://')) return true
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return false
  }
  if (url.protocol === 'https:') return true
  return url.protocol === 'http:' && classifyHost(url.hostname) === 'loopback'
}

/** Redirect policy for provider dispatch: `follow` only for same-origin 307/308 to allowed addresses, ≤ 3 hops. */
export function redirectDecision(args: {
  status: number
  sameOrigin: boolean
  targetAddresses: readonly string[]
  allowPrivate: boolean
  hops: number
}): 'follow' | 'refuse' {
  if (args.status !== 307 && args.status !== 308) return 'refuse'
  if (!args.sameOrigin || args.hops >= 3) return 'refuse'
  return addressAllowed(args.targetAddresses, args.allowPrivate) ? 'follow' : 'refuse'
}
