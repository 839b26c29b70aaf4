/**
 * Consumer tokens (dir §3.12; wire.md §1.8): `POST /api/v1/consumer-token` with the Bearer node_token of the
 * caller's own registered node and `{target_node_id, intent}` answers 201 `{token, expires_at, caller_node_id,
 * target_node_id, intent}`. The token is `<base64url payload>.<hex Ed25519 signature>` over
 * `"iicp:consumer-token:v1\n" + payload`, signed with the directory key served at `/api/v1/directory-key`, with
 * payload `{v:1, iss, sub: caller, aud: target, intent, iat, exp: iat + 300}`: what @iicp/node verifies on
 * `X-IICP-Consumer-Token`. 401 without valid credentials, 404 for an unknown target, 422 for a bad body, 429 over
 * 60 tokens a minute per caller node.
 */
import { IicpError, cryptoBackend } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode } from '../credentials.js'
import { RateLimiter } from '../http/rate-limit.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import { checkIntent } from './discover.js'

/** Domain-separation prefix of consumer tokens (dir §3.12). */
export const CONSUMER_TOKEN_CONTEXT = 'iicp:consumer-token:v1\n'
/** Token lifetime in seconds (dir §3.12 default). */
export const CONSUMER_TOKEN_TTL_SECONDS = 300
/** Per-caller-node issuance limit (dir §3.12: 60 per minute). */
export const CONSUMER_TOKEN_RATE_LIMIT = Object.freeze({ max: 60, windowMs: 60_000 })

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/
const NO_STORE = Object.freeze({ 'cache-control': 'no-store' })
// One limiter per directory instance, created on first use (the route table stays free of per-route state).
const limiters = new WeakMap<DirectoryContext, RateLimiter>()

function invalid(field: string, message: string): IicpError {
  return new IicpError('validation_error', 'Input validation failed', { fields: { [field]: [message] } })
}

/** POST /api/v1/consumer-token */
export async function consumerToken(dir: DirectoryContext, ctx: RequestContext): Promise<Reply> {
  const caller = authenticateNode(ctx, dir.table)
  const body = ctx.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('(root)', 'body must be a JSON object')
  const b = body as Record<string, unknown>
  const target = b.target_node_id
  if (typeof target !== 'string' || !NODE_ID.test(target)) throw invalid('target_node_id', 'target_node_id must be a node id')
  const intent = b.intent === undefined ? '*' : b.intent
  if (typeof intent !== 'string') throw invalid('intent', 'intent must be an intent URN or "*"')
  if (intent !== '*') checkIntent(intent)
  const now = dir.opts.clock()
  let limiter = limiters.get(dir)
  if (!limiter) {
    limiter = new RateLimiter(CONSUMER_TOKEN_RATE_LIMIT)
    limiters.set(dir, limiter)
  }
  const wait = limiter.hit(caller.id, now)
  if (wait !== undefined) throw new IicpError('rate_limited', `Too many consumer tokens: retry after ${Math.ceil(wait / 1000)}s`, { retryAfterMs: wait })
  if (!dir.table.get(target)) throw new IicpError('not_found', 'Target node not found')
  const iat = Math.floor(now / 1000)
  const claims = { v: 1, iss: ctx.origin, sub: caller.id, aud: target, intent, iat, exp: iat + CONSUMER_TOKEN_TTL_SECONDS }
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')
  let signature: Uint8Array
  try {
    signature = await cryptoBackend().ed25519Sign(Buffer.from(dir.key.privateKeyPkcs8, 'base64'), Buffer.from(CONSUMER_TOKEN_CONTEXT + payload, 'utf8'))
  } catch (cause) {
    throw new IicpError('not_configured', 'Directory signing key unavailable', { status: 503, cause })
  }
  dir.log.debug({ caller: caller.id.slice(0, 8), target: target.slice(0, 8) }, 'consumer token issued')
  return {
    status: 201,
    headers: NO_STORE,
    body: {
      token: `${payload}.${Buffer.from(signature).toString('hex')}`,
      expires_at: claims.exp,
      caller_node_id: caller.id,
      target_node_id: target,
      intent,
      algorithm: 'ed25519',
    },
  }
}
