/**
 * Node credentials: opaque random tokens handed out once and kept only as SHA-256 hashes (dir §3.1 says
 * bcrypt; a 256-bit random token needs no slow hash, and SHA-256 keeps register/heartbeat fast).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { IicpError } from '@iicp/protocol'
import type { RequestContext } from './http/route-table.js'
import type { LiveNode, NodeTable } from './node-table.js'

/** A fresh node_token: 32 random bytes as 64 hex chars (DIR-REG-05). */
export function newNodeToken(): string {
  return randomBytes(32).toString('hex')
}

/** A fresh telemetry proxy_token: 40 random bytes (tel §3). */
export function newProxyToken(): string {
  return randomBytes(40).toString('hex')
}

/** A fresh heartbeat HMAC key (hex, used as UTF-8 key bytes as the reference implementations do). */
export function newHmacKey(): string {
  return randomBytes(32).toString('hex')
}

/** A fresh heartbeat challenge nonce. */
export function newChallenge(): string {
  return randomBytes(16).toString('hex')
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Constant-time comparison of two equal-length hex strings. */
export function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  return timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/** Whether `response` is hex HMAC-SHA256(key = hmacKey as UTF-8, msg = challenge) (reference-implementations §3.2). */
export function challengeMatches(hmacKey: string, challenge: string, response: string): boolean {
  const expected = createHmac('sha256', hmacKey).update(challenge).digest('hex')
  return sameHex(expected, response.toLowerCase())
}

/** The bearer token of a request, or a 401. */
export function bearer(ctx: RequestContext): string {
  const h = ctx.headers.authorization
  if (!h) throw new IicpError('unauthorized', 'Missing Authorization header')
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  if (!m) throw new IicpError('unauthorized', 'Authorization scheme must be Bearer')
  return m[1] as string
}

/** How authenticateNode treats a claimed node_id the table does not hold. */
export interface AuthenticateOptions {
  /**
   * Answer 404 `not_found` when the request names a node_id that is not registered (heartbeat, cts
   * DIR-HB-03), so the node knows to register again; otherwise such a claim is a plain 401.
   */
  readonly unknownNodeIsNotFound?: boolean
}

/**
 * The node a node_token belongs to. Tokens identify their node, so `node_id` in the body or X-Node-Id is
 * optional; when given it must match. Never echoes the token.
 *
 * A missing Authorization header is a 401 before anything else. The not-found check looks only at the
 * claimed node_id (which discover publishes anyway), never at the token, so it tells a caller nothing
 * about tokens; a known node with a wrong token stays a 401 after the constant-time comparison.
 */
export function authenticateNode(ctx: RequestContext, table: NodeTable, claimedNodeId?: unknown, options: AuthenticateOptions = {}): LiveNode {
  const token = bearer(ctx)
  const header = ctx.headers['x-node-id']
  const claimed = [claimedNodeId, Array.isArray(header) ? header[0] : header]
  if (options.unknownNodeIsNotFound) {
    for (const c of claimed) {
      if (typeof c === 'string' && table.get(c) === undefined) throw new IicpError('not_found', 'Node not registered; register again')
    }
  }
  const hash = hashToken(token)
  const node = table.byTokenHash(hash)
  if (!node || !sameHex(node.rec.token_hash, hash)) throw new IicpError('unauthorized', 'Invalid credentials')
  for (const c of claimed) {
    if (c !== undefined && c !== null && c !== node.id) throw new IicpError('unauthorized', 'Invalid credentials')
  }
  return node
}
