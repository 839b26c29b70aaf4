/**
 * Federated directories (fed §6.1–§6.5; wire.md §1.11): the canonical query and signing input of replica-signed
 * answers, did:web resolution, and over loopback a seed that 307s discovery to a replica: a correctly signed
 * answer from a listed replica is used and the replica is remembered for Retry-After (injected clock), but not
 * when its trust is low; a bad signature, an unsigned answer from a listed replica, or a DID the registry does not
 * list for that origin is refused with IICP-SEC-REPLICA-01 and nothing reaches the node; unsafe methods keep
 * method, body and credentials across a 307; and a ticket the seed issues after a redirect is accepted.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, isIicpError } from '@iicp/protocol'
import type { IicpError, SigningKeyPair } from '@iicp/protocol'
import {
  IicpClient, canonicalQuery, didWebDocumentUrl, ed25519KeyFromDidDocument, parseReplicaRegistry, replicaSigningInput, verifyReplicaSignature,
} from '../src/index.js'
import type { ClientConfig } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeDirectory, FakeRequest } from './support/fake-directory.js'
import { startMesh } from './support/mesh.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'federated hello' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

function signDigest(key: SigningKeyPair, digest: Uint8Array): string {
  const pk = createPrivateKey({ key: Buffer.from(key.privateKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' })
  return sign(null, digest, pk).toString('hex')
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a failure')
}

describe('signing input and helpers', () => {
  it('canonicalises the query: decoded, sorted by name then value, RFC 3986 encoded', () => {
    expect(canonicalQuery('')).toBe('')
    expect(canonicalQuery('?limit=10&intent=urn%3Aiicp%3Aintent%3Allm%3Achat%3Av1')).toBe('intent=urn%3Aiicp%3Aintent%3Allm%3Achat%3Av1&limit=10')
    expect(canonicalQuery('b=2&a=z&a=y&flag')).toBe('a=y&a=z&b=2&flag=')
    expect(canonicalQuery('q=a+b&r=it%27s(1)*!~')).toBe("q=a%20b&r=it%27s%281%29%2A%21~")
  })

  it('hashes METHOD:path:query:seq:sha256(body) and verifies an Ed25519 signature over that digest', async () => {
    const body = '{"nodes":[],"count":0}'
    const expected = createHash('sha256').update(`GET:/api/v1/discover:intent=x&limit=1:42:${createHash('sha256').update(body).digest('hex')}`).digest()
    const digest = replicaSigningInput('get', '/api/v1/discover', '?limit=1&intent=x', '42', body)
    expect(Buffer.from(digest).equals(expected)).toBe(true)
    const key = await generateSigningKeyPair()
    const signatureHex = signDigest(key, digest)
    const args = { method: 'GET', path: '/api/v1/discover', query: 'intent=x&limit=1', snapshotSeq: '42', body, signatureHex, publicKeyHex: key.publicKeyHex }
    expect(await verifyReplicaSignature(args)).toBe(true)
    expect(await verifyReplicaSignature({ ...args, body: body.replace('0', '1') })).toBe(false)
    expect(await verifyReplicaSignature({ ...args, snapshotSeq: '43' })).toBe(false)
    expect(await verifyReplicaSignature({ ...args, path: '/v1/discover' })).toBe(false)
    expect(await verifyReplicaSignature({ ...args, signatureHex: 'zz' })).toBe(false)
  })

  it('resolves did:web to its did.json URL, http only for private hosts when allowed', () => {
    expect(didWebDocumentUrl('did:web:replica.example.com', false)?.href).toBe('https://replica.example.com/.well-known/did.json')
    expect(didWebDocumentUrl('did:web:replica.example.com%3A8443:dir:eu', false)?.href).toBe('https://replica.example.com:8443/dir/eu/did.json')
    expect(didWebDocumentUrl('did:web:127.0.0.1%3A9480', true)?.href).toBe('http://127.0.0.1:9480/.well-known/did.json')
    expect(didWebDocumentUrl('did:web:127.0.0.1%3A9480', false)?.protocol).toBe('https:')
    expect(didWebDocumentUrl('did:key:z6Mk', false)).toBeUndefined()
  })

  it('reads the first Ed25519 JWK of a DID document for that DID only, and validates registry entries', async () => {
    const key = await generateSigningKeyPair()
    const x = Buffer.from(key.publicKeyHex, 'hex').toString('base64url')
    const doc = { id: 'did:web:r.example.com', verificationMethod: [{ publicKeyJwk: { kty: 'RSA' } }, { publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x } }] }
    expect(ed25519KeyFromDidDocument(doc, 'did:web:r.example.com')).toBe(key.publicKeyHex)
    expect(ed25519KeyFromDidDocument(doc, 'did:web:other.example.com')).toBeUndefined()
    const good = { replica_id: 'rep-1', did: 'did:web:r.example.com', endpoint: 'https://r.example.com', trust_tier: 'medium', registered_at: '2026-05-26T12:00:00Z' }
    expect(parseReplicaRegistry({ schema_version: '2', replicas: [good, { ...good, trust_tier: 'ultra' }, { ...good, endpoint: 'ftp://x' }] })).toEqual([good])
    expect(parseReplicaRegistry({ nope: true })).toEqual([])
  })
})

interface Replica {
  readonly origin: string
  readonly did: string
  readonly hits: string[]
  close(): Promise<void>
}

type SignMode = 'good' | 'bad' | 'unsigned' | 'foreign-did'

/** A replica directory on loopback that serves discover (signed per `mode`) and its DID document. */
async function startReplica(key: SigningKeyPair, node: TestNode, mode: () => SignMode): Promise<Replica> {
  const hits: string[] = []
  let did = ''
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    hits.push(`${req.method ?? 'GET'} ${url.pathname}`)
    if (url.pathname === '/.well-known/did.json') {
      const x = Buffer.from(key.publicKeyHex, 'hex').toString('base64url')
      const text = JSON.stringify({ id: did, verificationMethod: [{ id: `${did}#key-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x } }] })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(text)
      return
    }
    const body = JSON.stringify({ nodes: [node.summary()], count: 1 })
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    const m = mode()
    if (m !== 'unsigned') {
      const digest = replicaSigningInput('GET', url.pathname, url.search, '4242', m === 'bad' ? `${body} ` : body)
      headers['x-iicp-replica-sig'] = signDigest(key, digest)
      headers['x-iicp-replica-did'] = m === 'foreign-did' ? 'did:web:elsewhere.example.com' : did
      headers['x-iicp-snapshot-seq'] = '4242'
    }
    res.writeHead(200, headers)
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  did = `did:web:127.0.0.1%3A${port}`
  return {
    origin: `http://127.0.0.1:${port}`,
    did,
    hits,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

interface Federation { seed: FakeDirectory; replica: Replica; node: TestNode; time: { now: () => number; advance: (ms: number) => void } }

/** A seed that 307s discover to a replica it lists in its trusted-replicas registry. */
async function federation(opts: { mode?: () => SignMode; trust?: string; retryAfter?: string; listed?: boolean } = {}): Promise<Federation> {
  const node = await startTestNode({ nodeId: 'fed-node-1' })
  closers.push(() => node.close())
  const key = await generateSigningKeyPair()
  const replica = await startReplica(key, node, opts.mode ?? (() => 'good'))
  closers.push(() => replica.close())
  const seed = await startFakeDirectory((req: FakeRequest) => {
    if (req.method === 'POST') return { status: 404, body: { error: { code: 'not_found', message: 'no' } } }
    if (req.url === '/.well-known/iicp-replicas.json') {
      const replicas = opts.listed === false ? [] : [{
        replica_id: 'rep-0123456789abcdef0123456789abcdef', did: replica.did, endpoint: replica.origin, trust_tier: opts.trust ?? 'high',
        registered_at: '2026-11-01T00:00:00Z', region_hint: 'local',
      }]
      return { status: 200, body: { '@context': 'https://iicp.network/ns/replicas/v1', schema_version: '2', genesis_seed: 'did:web:seed', version: '2', updated_at: '2026-11-26', replicas } }
    }
    return {
      status: 307,
      headers: {
        location: `${replica.origin}${req.url}`, 'x-iicp-seed-redirect': 'true', 'x-iicp-replica-trust': opts.trust ?? 'high',
        'x-iicp-redirect-reason': 'load', 'retry-after': opts.retryAfter ?? '30',
      },
    }
  })
  closers.push(() => seed.close())
  let t = Date.UTC(2026, 10, 26, 15, 0, 0)
  return { seed, replica, node, time: { now: () => t, advance: (ms) => { t += ms } } }
}

function client(f: { seed: FakeDirectory; time: { now: () => number } }, extra: ClientConfig = {}): IicpClient {
  const c = new IicpClient({
    directoryUrl: f.seed.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', routeCacheMs: 0, clock: f.time.now, ...extra,
  })
  closers.push(() => c.close())
  return c
}

const discoverHits = (d: FakeDirectory): number => d.requests.filter((r) => r.url.startsWith('/api/v1/discover')).length

describe('a seed redirecting discovery to a replica', () => {
  it('uses a correctly signed answer and remembers the replica for Retry-After, then asks the seed again', async () => {
    const f = await federation()
    const c = client(f)
    const r = await c.submit(CHAT, PAYLOAD)
    expect(r.nodeId).toBe('fed-node-1')
    expect(discoverHits(f.seed)).toBe(1)
    expect(f.replica.hits.filter((h) => h === 'GET /.well-known/did.json')).toHaveLength(1)
    f.time.advance(29_000)
    await c.submit(CHAT, PAYLOAD)
    // Within Retry-After the seed is skipped; the DID key is cached too.
    expect(discoverHits(f.seed)).toBe(1)
    expect(f.replica.hits.filter((h) => h === 'GET /api/v1/discover')).toHaveLength(2)
    expect(f.replica.hits.filter((h) => h === 'GET /.well-known/did.json')).toHaveLength(1)
    f.time.advance(2_000)
    await c.submit(CHAT, PAYLOAD)
    expect(discoverHits(f.seed)).toBe(2)
    expect(f.node.requests).toHaveLength(3)
  })

  it('sends writes (a consumer-token request with its Bearer) to the seed, not to a remembered replica', async () => {
    const f = await federation()
    const c = client(f, { nodeToken: 'f'.repeat(64) })
    await c.submit(CHAT, PAYLOAD)
    expect(f.seed.requests.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual(['/api/v1/consumer-token'])
    expect(f.replica.hits.filter((h) => h.startsWith('POST'))).toEqual([])
  })

  it('does not remember a low-trust replica: the seed is asked every time', async () => {
    const f = await federation({ trust: 'low' })
    const c = client(f)
    await c.submit(CHAT, PAYLOAD)
    await c.submit(CHAT, PAYLOAD)
    expect(discoverHits(f.seed)).toBe(2)
  })

  for (const [mode, what] of [['bad', 'a signature that does not verify'], ['unsigned', 'no signature from a listed replica'], ['foreign-did', 'a DID the registry does not list for that origin']] as const) {
    it(`refuses ${what} with IICP-SEC-REPLICA-01 and sends nothing to the node`, async () => {
      const f = await federation({ mode: () => mode })
      const err = await failure(client(f).submit(CHAT, PAYLOAD))
      expect(err.code).toBe('IICP-SEC-REPLICA-01')
      expect(f.node.requests).toHaveLength(0)
    })
  }

  it('refuses a signed answer when the seed publishes no registry entry for it', async () => {
    const f = await federation({ listed: false })
    expect((await failure(client(f).discover(CHAT))).code).toBe('IICP-SEC-REPLICA-01')
  })

  it('accepts an unsigned answer from an origin the registry does not list, and skips checks when verification is off', async () => {
    const f = await federation({ mode: () => 'unsigned', listed: false })
    expect((await client(f).discover(CHAT)).nodes.map((n) => n.node_id)).toEqual(['fed-node-1'])
    const g = await federation({ mode: () => 'bad' })
    expect((await client(g, { verifyReplicaSignatures: false }).discover(CHAT)).count).toBe(1)
  })
})

describe('unsafe methods and tickets across redirects', () => {
  it('keeps method, body and Bearer across a 307 from a replica to the seed (consumer token)', async () => {
    const node = await startTestNode({ nodeId: 'n-tok' })
    closers.push(() => node.close())
    const seed = await startFakeDirectory(() => ({ status: 404, body: { error: { code: 'not_found', message: 'no' } } }))
    closers.push(() => seed.close())
    const replica = await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 307, headers: { location: `${seed.origin}${req.url}`, 'x-iicp-replica-redirect': 'true', 'x-iicp-redirect-reason': 'replica_mode', 'retry-after': '0' } })
    closers.push(() => replica.close())
    const c = new IicpClient({ directoryUrl: replica.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', nodeToken: 'e'.repeat(64) })
    closers.push(() => c.close())
    await c.submit(CHAT, PAYLOAD)
    const atSeed = seed.requests.find((r) => r.url === '/api/v1/consumer-token')
    expect(atSeed?.method).toBe('POST')
    expect(atSeed?.body).toEqual({ target_node_id: 'n-tok', intent: CHAT })
    expect(atSeed?.headers.authorization).toBe(`Bearer ${'e'.repeat(64)}`)
  })

  it('accepts a dispatch ticket issued by the seed a redirecting front sent it to (DIR-FED-05)', async () => {
    const mesh = await startMesh([{ nodeId: 'ticket-node' }])
    closers.push(() => mesh.close())
    const front = await startFakeDirectory((req) => ({
      status: 307, headers: { location: `${mesh.origin}${req.url}`, 'x-iicp-seed-redirect': 'true', 'x-iicp-replica-trust': 'high', 'retry-after': '5' },
    }))
    closers.push(() => front.close())
    const c = new IicpClient({ directoryUrl: front.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true })
    closers.push(() => c.close())
    const r = await c.submit(CHAT, PAYLOAD)
    expect(r.routeSource).toBe('ticket')
    expect(r.nodeId).toBe('ticket-node')
    expect(front.requests.some((q) => q.url === '/api/v1/dispatch/ticket')).toBe(true)
  })
})
