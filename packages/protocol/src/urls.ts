/**
 * Directory URL normalisation (wire.md §0.1) and address classes for endpoint security (wire.md §5.3;
 * research/pre-normative-profiles/endpoint-security-profile-v1.md; dir §3.1 IICP-E035 routability rules).
 */
import { IicpError } from './errors.js'

/**
 * Address class of a host. Only `public` is globally routable; `reserved` covers documentation,
 * benchmarking, multicast, protocol-assignment and unallocated ranges, and anything that is not a valid host.
 */
export type HostClass = 'public' | 'loopback' | 'private' | 'link_local' | 'cgnat' | 'unspecified' | 'reserved' | 'local_name'

const normalizedCache = new Map<string, string>()
const CACHE_LIMIT = 64

function invalidConfig(message: string): IicpError {
  return new IicpError('invalid_config', message)
}

function normalizeUncached(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url.trim())
  } catch {
    throw invalidConfig('directoryUrl is not a valid absolute URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw invalidConfig(`directoryUrl must use http or https, not ${JSON.stringify(parsed.protocol.slice(0, -1).slice(0, 20))}`)
  }
  // Credentials in a URL end up in logs and Referer headers; the directory never needs them.
  if (parsed.username !== '' || parsed.password !== '') throw invalidConfig('directoryUrl must not contain credentials')
  if (parsed.search !== '' || parsed.hash !== '') throw invalidConfig('directoryUrl must not contain a query or fragment')
  const segments = parsed.pathname.split('/').filter((s) => s !== '')
  // `…/api/v1` is a common paste of a full endpoint base; the SDK appends `/v1/…` itself.
  if (segments.at(-1) === 'v1') segments.pop()
  while (segments.length >= 2 && segments.at(-1) === 'api' && segments.at(-2) === 'api') segments.pop()
  if (segments.at(-1) !== 'api') segments.push('api')
  return `${parsed.origin}/${segments.join('/')}`
}

/**
 * Normalise a directory base so it ends in `/api` exactly once with no trailing slash (wire.md §0.1):
 * `https://iicp.network`, `https://iicp.network/`, `…/api/`, `…/api/v1` all become `https://iicp.network/api`.
 * Throws `invalid_config` for non-http(s) schemes, credentials, query strings or fragments.
 */
export function normalizeDirectoryUrl(url: string): string {
  const hit = normalizedCache.get(url)
  if (hit !== undefined) return hit
  const out = normalizeUncached(url)
  if (normalizedCache.size >= CACHE_LIMIT) normalizedCache.clear()
  normalizedCache.set(url, out)
  return out
}

/**
 * `${normalized base}${path}` where path starts with `/v1/` (wire.md §0.1). A path written with the spec's
 * `/api/v1/…` prefix is accepted too; `/api` is never doubled. Other paths throw `invalid_config`.
 */
export function directoryApiUrl(directoryUrl: string, path: string): string {
  const p = path.startsWith('/api/v1/') || path.startsWith('/api/v1?') ? path.slice(4) : path
  if (!p.startsWith('/v1/') && !p.startsWith('/v1?')) {
    throw invalidConfig(`directory API path must start with /v1/: ${JSON.stringify(path.slice(0, 80))}`)
  }
  return normalizeDirectoryUrl(directoryUrl) + p
}

/**
 * The directory's origin (normalised base without `/api`), used as the dispatch-ticket issuer
 * (reference-implementations.md §3.5: `iss` equals the directory URL without `/api`) and for `/.well-known/…`.
 */
export function directoryOrigin(directoryUrl: string): string {
  return normalizeDirectoryUrl(directoryUrl).slice(0, -'/api'.length)
}

type Ipv4Range = readonly [base: number, prefix: number, cls: HostClass]

const v4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0

// Most specific first; anything unlisted is public (IANA IPv4 special-purpose registry, RFC 6890).
const IPV4_RANGES: readonly Ipv4Range[] = [
  [v4(0, 0, 0, 0), 32, 'unspecified'],
  [v4(0, 0, 0, 0), 8, 'reserved'],
  [v4(10, 0, 0, 0), 8, 'private'],
  [v4(100, 64, 0, 0), 10, 'cgnat'],
  [v4(127, 0, 0, 0), 8, 'loopback'],
  [v4(169, 254, 0, 0), 16, 'link_local'],
  [v4(172, 16, 0, 0), 12, 'private'],
  [v4(192, 0, 0, 0), 24, 'reserved'],
  [v4(192, 0, 2, 0), 24, 'reserved'],
  [v4(192, 88, 99, 0), 24, 'reserved'],
  [v4(192, 168, 0, 0), 16, 'private'],
  [v4(198, 18, 0, 0), 15, 'reserved'],
  [v4(198, 51, 100, 0), 24, 'reserved'],
  [v4(203, 0, 113, 0), 24, 'reserved'],
  [v4(224, 0, 0, 0), 4, 'reserved'],
  [v4(240, 0, 0, 0), 4, 'reserved'],
]

function classifyIpv4(addr: number): HostClass {
  for (const [base, prefix, cls] of IPV4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
    if (((addr & mask) >>> 0) === base) return cls
  }
  return 'public'
}

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

function parseIpv4(text: string): number | undefined {
  const m = DOTTED_QUAD.exec(text)
  if (!m) return undefined
  return v4(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]))
}

/** Eight 16-bit groups, or undefined when not an IPv6 literal (RFC 4291 §2.2 text forms). */
function parseIpv6(text: string): number[] | undefined {
  let s = text
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone)
  if (!/^[0-9a-f:.]+$/.test(s)) return undefined
  if (s.includes('.')) {
    // A trailing dotted quad stands for the last two groups.
    const lastColon = s.lastIndexOf(':')
    const quad = parseIpv4(s.slice(lastColon + 1))
    if (quad === undefined) return undefined
    s = `${s.slice(0, lastColon + 1)}${(quad >>> 16).toString(16)}:${(quad & 0xffff).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const head = parseGroups(halves[0] ?? '')
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : []
  if (!head || !tail) return undefined
  const explicit = head.length + tail.length
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...tail]
}

function parseGroups(part: string): number[] | undefined {
  if (part === '') return []
  const out: number[] = []
  for (const g of part.split(':')) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined
    out.push(Number.parseInt(g, 16))
  }
  return out
}

function embeddedV4(hi: number, lo: number): number {
  return ((hi << 16) | lo) >>> 0
}

function classifyIpv6(g: number[]): HostClass {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g
  const firstSixZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0
  if (firstSixZero && g5 === 0 && g6 === 0 && g7 === 0) return 'unspecified'
  if (firstSixZero && g5 === 0 && g6 === 0 && g7 === 1) return 'loopback'
  // IPv4-mapped (::ffff:0:0/96) and the well-known NAT64 prefix (64:ff9b::/96) reach the embedded IPv4 address.
  if (firstSixZero && g5 === 0xffff) return classifyIpv4(embeddedV4(g6, g7))
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyIpv4(embeddedV4(g6, g7))
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'
  if (g0 === 0x2002) return classifyIpv4(embeddedV4(g1, g2))
  if (g0 === 0x2001 && g1 === 0x0db8) return 'reserved'
  if (g0 === 0x2001 && g1 < 0x0200) return 'reserved'
  if ((g0 & 0xfff0) === 0x3ff0) return 'reserved'
  if ((g0 & 0xfe00) === 0xfc00) return 'private'
  if ((g0 & 0xffc0) === 0xfe80) return 'link_local'
  if ((g0 & 0xffc0) === 0xfec0) return 'private'
  if ((g0 & 0xe000) === 0x2000) return 'public'
  // Everything outside 2000::/3 (::/8 leftovers, 100::/64 discard, ff00::/8 multicast, unallocated).
  return 'reserved'
}

// Suffixes the PHP directory refuses (dir §3.1 IICP-E035) plus RFC 8375 home.arpa and the common localdomain.
const LOCAL_SUFFIXES = ['.local', '.test', '.example', '.invalid', '.lan', '.internal', '.home.arpa', '.localdomain']
const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/

/** WHATWG URL "ends in a number": such a host is parsed as an IPv4 address in any of its legacy forms. */
function endsInNumber(name: string): boolean {
  const last = name.slice(name.lastIndexOf('.') + 1)
  return /^\d+$/.test(last) || /^0x[0-9a-f]*$/.test(last)
}

/** The host as a WHATWG URL parser canonicalises it (legacy IPv4 forms, IDNA), or undefined if invalid. */
function canonicalHost(name: string): string | undefined {
  try {
    return new URL(`http://${name}/`).hostname
  } catch {
    return undefined
  }
}

function classifyName(name: string): HostClass {
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback'
  if (LOCAL_SUFFIXES.some((suffix) => name.endsWith(suffix))) return 'local_name'
  if (!name.includes('.')) return 'local_name'
  return 'public'
}

/**
 * Classify a hostname or IP literal without DNS. IPv4 (any WHATWG legacy form), IPv6 with or without
 * brackets and zone ids, IPv4-mapped IPv6, NAT64 and 6to4 are judged by the address they reach.
 * `localhost` and `*.localhost` are loopback (RFC 6761 §6.3); `.local .test .example .invalid .lan
 * .internal .home.arpa .localdomain` names and bare names without a dot are `local_name`.
 */
export function classifyHost(host: string): HostClass {
  let h = host.trim().toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  if (h.includes(':')) {
    const groups = parseIpv6(h)
    return groups ? classifyIpv6(groups) : 'reserved'
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  if (h === '') return 'reserved'
  if (endsInNumber(h)) {
    const quad = parseIpv4(h) ?? parseIpv4(canonicalHost(h) ?? '')
    return quad === undefined ? 'reserved' : classifyIpv4(quad)
  }
  if (!HOST_NAME.test(h) || h.split('.').some((label) => label.length > 63)) {
    const canonical = canonicalHost(h)
    if (canonical === undefined || !HOST_NAME.test(canonical)) return 'reserved'
    h = canonical
  }
  return classifyName(h)
}

/** True unless the host is a public address or a public DNS name (endpoint-security profile, public default). */
export function isPrivateOrLocalHost(host: string): boolean {
  return classifyHost(host) !== 'public'
}
