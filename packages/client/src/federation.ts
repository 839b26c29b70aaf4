/**
 * Federated directories (fed §6.1–§6.5; wire.md §1.11; cts DIR-FED-05/06/20): every directory request follows
 * at most 3 consecutive 307/308 redirects with method and body kept, remembers a seed redirect's target for
 * `Retry-After` (default 5 s; never for `X-IICP-Replica-Trust: low`, where the seed is preferred; reads only), and checks
 * replica-signed discovery answers: `X-IICP-Replica-Sig` is an Ed25519 signature over
 * `SHA256(METHOD:path:canonical query:X-IICP-Snapshot-Seq:SHA256_hex(body))`, made with the key of the DID in
 * `X-IICP-Replica-DID`, which must be listed in the seed's `/.well-known/iicp-replicas.json` for the answering
 * origin. A listed replica that does not sign, or a signature that fails, rejects the answer
 * (`IICP-SEC-REPLICA-01`); an unsigned answer from an unlisted origin (the seed itself) is accepted.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { IicpError, cryptoBackend, isPrivateOrLocalHost } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { Cancellation } from './deadline.js'
import { headerValue } from './http.js'
import type { HttpResponse, HttpTransport } from './http.js'
import { hopHeaders } from './trace.js'
import type { TaskTrace } from './trace.js'

/** Header names of fed §6.1 and §6.5. */
export const FEDERATION_HEADERS = Object.freeze({
  seedRedirect: 'x-iicp-seed-redirect',
  replicaTrust: 'x-iicp-replica-trust',
  redirectReason: 'x-iicp-redirect-reason',
  replicaSig: 'x-iicp-replica-sig',
  replicaDid: 'x-iicp-replica-did',
  snapshotSeq: 'x-iicp-snapshot-seq',
})

/** Consecutive redirects a client follows before giving up (fed §6.2, DIR-FED-06). */
export const MAX_FEDERATION_REDIRECTS = 3
/** How long a redirect target is remembered when `Retry-After` is absent (fed §6.2). */
export const DEFAULT_REDIRECT_CACHE_MS = 5_000
// A directory cannot pin clients to a replica for longer than this, whatever Retry-After says.
const MAX_REDIRECT_CACHE_MS = 300_000
const REGISTRY_TTL_MS = 300_000
const SIGNED_PATHS = /\/v1\/(discover|bootstrap|node\/[^/]+)$/

/** A directory answer and the URL that finally produced it (after redirects). */
export interface DirectoryReply extends HttpResponse {
  readonly url: URL
}

/**
 * The canonical query of fed §6.5: pairs decoded (`+` is a space), sorted by name then value, re-encoded per
 * RFC 3986 (as PHP `rawurlencode` and Python `quote(safe='')` do), joined by `&`; empty for no query.
 */
export function canonicalQuery(query: string): string {
  const q = query.startsWith('?') ? query.slice(1) : query
  if (q === '') return ''
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '))
    } catch {
      return s
    }
  }
  const pairs: [string, string][] = []
  for (const part of q.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    pairs.push(eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))])
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')
}

/** The 32-byte digest a replica signs (fed §6.5). `body` is the exact response body. */
export function replicaSigningInput(method: string, path: string, query: string, snapshotSeq: string, body: string | Uint8Array): Uint8Array {
  const bodyHash = createHash('sha256').update(body).digest('hex')
  const canonical = `${method.toUpperCase()}:${path}:${canonicalQuery(query)}:${snapshotSeq}:${bodyHash}`
  return createHash('sha256').update(canonical, 'utf8').digest()
}

/** Verify `X-IICP-Replica-Sig` (128 hex) against a raw 64-hex Ed25519 key. Never throws. */
export async function verifyReplicaSignature(args: {
  readonly method: string
  readonly path: string
  readonly query: string
  readonly snapshotSeq: string
  readonly body: string | Uint8Array
  readonly signatureHex: string
  readonly publicKeyHex: string
}): Promise<boolean> {
  if (!/^[0-9a-fA-F]{128}$/.test(args.signatureHex) || !/^[0-9a-fA-F]{64}$/.test(args.publicKeyHex) || !/^\d{1,20}$/.test(args.snapshotSeq)) return false
  try {
    const digest = replicaSigningInput(args.method, args.path, args.query, args.snapshotSeq, args.body)
    return await cryptoBackend().ed25519Verify(Buffer.from(args.publicKeyHex, 'hex'), Buffer.from(args.signatureHex, 'hex'), digest)
  } catch {
    return false
  }
}

/**
 * Where a `did:web` DID document lives: `did:web:host%3Aport:a:b` → `https://host:port/a/b/did.json`, and a bare
 * host → `/.well-known/did.json`. `http:` only for a private/loopback host when `allowPrivate` is set (test meshes).
 */
export function didWebDocumentUrl(did: string, allowPrivate: boolean): URL | undefined {
  const m = /^did:web:([^:]+)((?::[^:]+)*)$/.exec(did)
  if (!m) return undefined
  let host: string
  try {
    host = decodeURIComponent(m[1] as string)
  } catch {
    return undefined
  }
  const segments = (m[2] ?? '').split(':').filter((s) => s.length > 0).map((s) => encodeURIComponent(decodeURIComponent(s)))
  const path = segments.length === 0 ? '/.well-known/did.json' : `/${segments.join('/')}/did.json`
  let url: URL
  try {
    url = new URL(`https://${host}${path}`)
  } catch {
    return undefined
  }
  if (url.host !== host.toLowerCase() && url.host !== host) return undefined
  if (allowPrivate && isPrivateOrLocalHost(url.hostname.replace(/^\[|\]$/g, ''))) url.protocol = 'http:'
  return url
}

const JwkSchema = z.looseObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/) })
const DidDocumentSchema = z.looseObject({
  id: z.string(),
  verificationMethod: z.array(z.looseObject({ publicKeyJwk: z.unknown().optional() })).min(1),
})

/** The first Ed25519 verification key of a DID document for `did`, as 64 hex, or undefined. */
export function ed25519KeyFromDidDocument(doc: unknown, did: string): string | undefined {
  const parsed = DidDocumentSchema.safeParse(doc)
  if (!parsed.success || parsed.data.id !== did) return undefined
  for (const vm of parsed.data.verificationMethod) {
    const jwk = JwkSchema.safeParse(vm.publicKeyJwk)
    if (!jwk.success) continue
    const raw = Buffer.from(jwk.data.x, 'base64url')
    if (raw.length === 32) return raw.toString('hex')
  }
  return undefined
}

/** One trusted-replicas registry entry (fed §6.4 v2; the fields a client acts on). */
export interface ReplicaEntry {
  readonly replica_id: string
  readonly did: string
  readonly endpoint: string
  readonly trust_tier: 'low' | 'medium' | 'high'
  readonly registered_at: string
}

const ReplicaEntrySchema = z.looseObject({
  replica_id: z.string().min(1).max(128),
  did: z.string().regex(/^did:web:[^\s]+$/).max(512),
  endpoint: z.url({ protocol: /^https?$/ }),
  trust_tier: z.enum(['low', 'medium', 'high']),
  registered_at: z.string().min(1).max(64),
})
const RegistrySchema = z.looseObject({ replicas: z.array(z.unknown()) })

/** Parse `/.well-known/iicp-replicas.json`; entries that fail their schema are dropped (fed §6.4 "MUST validate"). */
export function parseReplicaRegistry(doc: unknown): ReplicaEntry[] {
  const root = RegistrySchema.safeParse(doc)
  if (!root.success) return []
  const out: ReplicaEntry[] = []
  for (const raw of root.data.replicas) {
    const e = ReplicaEntrySchema.safeParse(raw)
    if (e.success) out.push({ replica_id: e.data.replica_id, did: e.data.did, endpoint: e.data.endpoint, trust_tier: e.data.trust_tier, registered_at: e.data.registered_at })
  }
  return out
}

/** Options of a FederatedDirectory. */
export interface FederatedDirectoryOptions {
  /** Normalised directory API base (`…/api`). */
  readonly directoryUrl: string
  readonly clock: () => number
  readonly logger: Logger
  readonly allowPrivate: boolean
  /** Check replica signatures on discovery answers (fed §6.5). @default true */
  readonly verifyReplicaSignatures: boolean
}

/** One outgoing directory request. */
export interface DirectoryRequest {
  readonly method: 'GET' | 'POST'
  /** Path under the API base, starting with `/v1/`, query included. */
  readonly apiPath: string
  readonly body?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Another API base to ask (e.g. the origin that issued a ticket); no redirect cache applies. */
  readonly base?: URL | undefined
}

function rejectReplica(message: string): IicpError {
  return new IicpError('IICP-SEC-REPLICA-01', message, { status: 502, retryable: false })
}

/** The directory control-plane path of one client: redirects, the redirect cache and replica verification. */
export class FederatedDirectory {
  readonly #http: HttpTransport
  readonly #o: FederatedDirectoryOptions
  readonly #base: URL
  #redirect: { origin: string; until: number } | undefined
  #registry: { at: number; value: Promise<ReplicaEntry[]> } | undefined
  readonly #didKeys = new Map<string, Promise<string | undefined>>()

  constructor(http: HttpTransport, options: FederatedDirectoryOptions) {
    this.#http = http
    this.#o = options
    this.#base = new URL(options.directoryUrl)
  }

  /** The configured API base (`…/api`). */
  get base(): URL {
    return this.#base
  }

  /** The origin a seed redirect currently sends requests to, if one is remembered. */
  get redirectedOrigin(): string | undefined {
    const r = this.#redirect
    return r && r.until > this.#o.clock() ? r.origin : undefined
  }

  /** Send one request, following redirects; the reply carries the URL that answered. */
  async call(req: DirectoryRequest, trace: TaskTrace, cancel: Cancellation): Promise<DirectoryReply> {
    const base = req.base ?? this.#base
    const first = new URL(base.pathname.replace(/\/+$/, '') + req.apiPath, base)
    // Only reads follow a remembered redirect: writes (and their credentials) go to the seed, which redirects
    // them itself when it wants to (fed §6.2a sends replica writes to the seed anyway).
    const cached = req.base || req.method !== 'GET' ? undefined : this.redirectedOrigin
    if (cached !== undefined) {
      const via = new URL(first.pathname + first.search, cached)
      try {
        return await this.#follow(req, via, trace, cancel, false)
      } catch (err) {
        // A remembered replica that stopped answering sends us back to the seed at once.
        if (!(err instanceof IicpError) || err.code !== 'connection_failed') throw err
        this.#redirect = undefined
      }
    }
    return this.#follow(req, first, trace, cancel, req.base === undefined)
  }

  async #follow(req: DirectoryRequest, start: URL, trace: TaskTrace, cancel: Cancellation, mayCache: boolean): Promise<DirectoryReply> {
    let url = start
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept: 'application/json', ...req.headers }
      if (req.body !== undefined) headers['content-type'] = 'application/json'
      hopHeaders(trace, headers)
      const res = await this.#http.send({ origin: url.origin, path: url.pathname + url.search, method: req.method, headers, body: req.body, cancel })
      const location = res.status === 307 || res.status === 308 ? headerValue(res.headers, 'location') : undefined
      if (location === undefined) {
        const reply: DirectoryReply = { status: res.status, text: res.text, get headers() { return res.headers }, url }
        if (this.#o.verifyReplicaSignatures && req.method === 'GET' && res.status >= 200 && res.status < 300) await this.#verify(reply, trace, cancel)
        return reply
      }
      if (hop + 1 > MAX_FEDERATION_REDIRECTS) throw new IicpError('invalid_response', 'Directory redirected more than 3 times', { status: res.status })
      let next: URL
      try {
        next = new URL(location, url)
      } catch {
        throw new IicpError('invalid_response', 'Directory redirected to an invalid URL', { status: res.status })
      }
      if (next.protocol !== 'https:' && !(next.protocol === 'http:' && (url.protocol === 'http:' || this.#o.allowPrivate))) {
        throw new IicpError('invalid_response', 'Directory redirected to a non-https URL', { status: res.status })
      }
      if (hop === 0 && mayCache) this.#remember(res, next)
      url = next
    }
  }

  #remember(res: HttpResponse, next: URL): void {
    if (next.origin === this.#base.origin) return
    const trust = headerValue(res.headers, FEDERATION_HEADERS.replicaTrust)?.trim().toLowerCase()
    // fed §6.2: prefer the seed when the replica's trust is low, so do not pin later requests to it.
    if (trust === 'low') return
    const ra = headerValue(res.headers, 'retry-after')
    const secs = ra !== undefined && /^\d+$/.test(ra.trim()) ? Number(ra.trim()) : undefined
    const ms = secs === undefined ? DEFAULT_REDIRECT_CACHE_MS : Math.min(MAX_REDIRECT_CACHE_MS, secs * 1000)
    if (ms <= 0) return
    this.#redirect = { origin: next.origin, until: this.#o.clock() + ms }
  }

  async #verify(reply: DirectoryReply, trace: TaskTrace, cancel: Cancellation): Promise<void> {
    const sig = headerValue(reply.headers, FEDERATION_HEADERS.replicaSig)
    const did = headerValue(reply.headers, FEDERATION_HEADERS.replicaDid)
    const seq = headerValue(reply.headers, FEDERATION_HEADERS.snapshotSeq)
    const fromSeed = reply.url.origin === this.#base.origin
    if (sig === undefined && did === undefined) {
      if (fromSeed || !SIGNED_PATHS.test(reply.url.pathname)) return
      const listed = (await this.#replicas(trace, cancel)).some((e) => new URL(e.endpoint).origin === reply.url.origin)
      if (listed) {
        this.#o.logger.warn({ code: 'IICP-SEC-REPLICA-01', origin: reply.url.origin }, 'listed replica answered without a signature')
        throw rejectReplica('A listed replica answered discovery without X-IICP-Replica-Sig')
      }
      return
    }
    if (sig === undefined || did === undefined || seq === undefined) throw rejectReplica('Replica answer carries an incomplete signature header set')
    const entry = (await this.#replicas(trace, cancel)).find((e) => e.did === did)
    if (!entry || new URL(entry.endpoint).origin !== reply.url.origin) {
      this.#o.logger.warn({ code: 'IICP-SEC-REPLICA-01', origin: reply.url.origin }, 'replica DID not in the trusted-replicas registry for this origin')
      throw rejectReplica('Replica is not in the trusted-replicas registry for the origin that answered')
    }
    const key = await this.#didKey(did, trace, cancel)
    const ok = key !== undefined && await verifyReplicaSignature({
      method: 'GET', path: reply.url.pathname, query: reply.url.search, snapshotSeq: seq.trim(), body: reply.text, signatureHex: sig.trim(), publicKeyHex: key,
    })
    if (!ok) {
      this.#o.logger.warn({ code: 'IICP-SEC-REPLICA-01', origin: reply.url.origin }, 'replica signature did not verify')
      throw rejectReplica('Replica signature did not verify; the answer was not used')
    }
  }

  /** The seed's trusted-replicas registry, cached; an unreachable or absent registry lists no replicas. */
  #replicas(trace: TaskTrace, cancel: Cancellation): Promise<ReplicaEntry[]> {
    const now = this.#o.clock()
    if (this.#registry && now - this.#registry.at < REGISTRY_TTL_MS) return this.#registry.value
    const value = (async () => {
      try {
        const headers: Record<string, string> = { accept: 'application/json' }
        hopHeaders(trace, headers)
        const res = await this.#http.send({ origin: this.#base.origin, path: '/.well-known/iicp-replicas.json', method: 'GET', headers, cancel })
        if (res.status !== 200) return []
        return parseReplicaRegistry(JSON.parse(res.text))
      } catch (err) {
        // No registry means no listed replicas: signed answers then fail closed, unsigned seed answers pass.
        this.#o.logger.debug({ code: err instanceof IicpError ? err.code : 'invalid_json' }, 'trusted-replicas registry unavailable')
        return []
      }
    })()
    this.#registry = { at: now, value }
    return value
  }

  #didKey(did: string, trace: TaskTrace, cancel: Cancellation): Promise<string | undefined> {
    let p = this.#didKeys.get(did)
    if (!p) {
      p = (async () => {
        const url = didWebDocumentUrl(did, this.#o.allowPrivate)
        if (!url) return undefined
        const headers: Record<string, string> = { accept: 'application/json' }
        hopHeaders(trace, headers)
        const res = await this.#http.send({ origin: url.origin, path: url.pathname, method: 'GET', headers, cancel })
        if (res.status !== 200) return undefined
        try {
          return ed25519KeyFromDidDocument(JSON.parse(res.text), did)
        } catch {
          return undefined
        }
      })()
      const pending = p
      p.then((k) => {
        if (k === undefined && this.#didKeys.get(did) === pending) this.#didKeys.delete(did)
      }, () => {
        if (this.#didKeys.get(did) === pending) this.#didKeys.delete(did)
      })
      if (this.#didKeys.size >= 64) this.#didKeys.clear()
      this.#didKeys.set(did, p)
    }
    return p
  }
}
