/**
 * Documents at the directory origin root (wire.md §0.1): the intent registry (`/.well-known/iicp-intents.json`,
 * registry/README), the directory's did:web document carrying its Ed25519 key (dir §8 EXT-ATTEST: verifiers
 * read `verificationMethod[0].publicKeyJwk.x`), and the trusted-replicas registry (fed §6.4), which a
 * directory without replicas answers with a JSON 404.
 */
import { IicpError } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import type { Reply, RequestContext } from '../http/route-table.js'

const LONG_CACHE = Object.freeze({ 'cache-control': 'public, max-age=3600' })
const DID_HEADERS = Object.freeze({ 'cache-control': 'public, max-age=300' })

let registryText: Promise<string> | undefined

/**
 * The spec's intent registry document (registry/intents.json v1.4.0, kept byte-identical to the copy under
 * fixtures/ by a test), loaded and serialised on first request so an idle directory does not hold it.
 */
function intentRegistryText(): Promise<string> {
  registryText ??= import('../intent-registry.json', { with: { type: 'json' } }).then((m) => JSON.stringify(m.default))
  return registryText
}

/** GET /.well-known/iicp-intents.json */
export async function intentRegistry(): Promise<Reply> {
  return { status: 200, raw: await intentRegistryText(), headers: LONG_CACHE }
}

/**
 * The did:web identifier of the directory origin a request reached: `did:web:host%3Aport` (port colon
 * encoded), or undefined when the origin (built from the Host header) is not a valid URL.
 */
export function directoryDid(origin: string): string | undefined {
  if (!URL.canParse(origin)) return undefined
  return `did:web:${encodeURIComponent(new URL(origin).host)}`
}

/** GET /.well-known/did.json — the directory's Ed25519 ticket-signing key as a DID document. */
export function didDocument(dir: DirectoryContext, ctx: RequestContext): Reply {
  const did = directoryDid(ctx.origin)
  if (did === undefined) {
    throw new IicpError('validation_error', 'The Host header does not name a valid origin', { status: 400, fields: { host: ['not a valid host[:port]'] } })
  }
  const keyId = `${did}#directory-key`
  const x = Buffer.from(dir.key.publicKeyHex, 'hex').toString('base64url')
  return {
    status: 200,
    headers: DID_HEADERS,
    body: {
      '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
      id: did,
      verificationMethod: [{ id: keyId, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x } }],
      assertionMethod: [keyId],
    },
  }
}

/** GET /.well-known/iicp-replicas.json — this directory runs no replicas, so there is no registry to serve. */
export function replicaRegistry(): Reply {
  throw new IicpError('not_found', 'This directory has no replicas (fed §6.4)')
}
