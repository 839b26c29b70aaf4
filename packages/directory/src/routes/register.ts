/**
 * REGISTER → ACK and DEREGISTER (core §2; dir §3.1, §5; wire.md §1.2, §1.4): validation with field-level
 * 422s, routable-endpoint rules in public mode (IICP-E035), the liveness probe, ownership of an existing
 * node_id (IICP-E049/E050) and token rotation with `current_node_token`.
 *
 * Ownership (dir §5 E049/E050 with the E′ hardening of dir 1.1.23, #534): node_id and endpoint are public
 * in discover, so a registration naming a known node_id without its current token proves nothing. Such a
 * registration never rotates the credentials of a node that holds a CX key, nor of any node still
 * heartbeating; only a dormant node without a CX key may be recovered token-less (a restart that lost its
 * token), at its old route or at a new one once the old endpoint is verifiably dead.
 */
import { randomUUID } from 'node:crypto'
import { IicpError, RegisterRequestSchema, safeParseWire, validateIntent, verifyPolicyManifest } from '@iicp/protocol'
import type { PolicyManifestVerification, RegisterRequest } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode, hashToken, newHmacKey, newNodeToken, newProxyToken, sameHex } from '../credentials.js'
import { bareHost, unroutableReason } from '../endpoint-rules.js'
import { FieldErrors } from '../field-errors.js'
import { MANIFEST_ECHO_KEYS, MAX_CREDIT_MULTIPLIER, PRICING_MODELS } from '../node-policy.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import type { LiveNode } from '../node-table.js'
import type { NodeRecord } from '../store/types.js'

/** REGISTER fields echoed back by discover and node detail; everything else is dropped. */
const META_KEYS = [
  'transport_endpoint', 'transport_method', 'transport_candidates', 'relay_endpoint', 'relay_capable', 'relay_accept_port',
  'nat_type', 'exposure_mode', 'cx_public_key', 'public_key', 'backend', 'policy', 'sdk_language', 'sdk_version',
  'sdk_compatibility_version', 'implementation_name', 'implementation_version', 'availability', 'pricing',
  'policy_manifest',
] as const

function validate(body: unknown, errors: FieldErrors): RegisterRequest | undefined {
  const parsed = safeParseWire(RegisterRequestSchema, body)
  if (!parsed.ok) {
    errors.merge(parsed.error.fields)
    return undefined
  }
  const req = parsed.value
  const seen = new Set<string>()
  req.capabilities.forEach((cap, i) => {
    const bad = validateIntent(cap.intent)
    if (bad) errors.add(`capabilities.${i}.intent`, bad.code === 'IICP-POLICY-001' ? `IICP-POLICY-001: ${bad.message}` : 'The intent format is invalid')
    const variant = typeof cap.variant_id === 'string' ? cap.variant_id : ''
    const key = `${cap.intent}\u0000${variant}`
    if (seen.has(key)) errors.add(`capabilities.${i}`, 'duplicate (intent, variant_id) capability')
    seen.add(key)
  })
  const manifest = req.policy_manifest as Record<string, unknown> | null | undefined
  if (manifest) {
    // What the directory says about a manifest is not the node's to claim, and would not be covered by the hash.
    for (const k of Object.keys(manifest)) {
      if (MANIFEST_ECHO_KEYS.has(k)) errors.add(`policy_manifest.${k}`, `${k} is computed by the directory, not registered`)
    }
  }
  const pricing = req.pricing as Record<string, unknown> | null | undefined
  if (pricing) {
    // ADR-019 declarative pricing as the reference directory bounds it; discover filters on the multiplier.
    const m = pricing.credit_cost_multiplier
    if (m !== undefined && (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > MAX_CREDIT_MULTIPLIER)) {
      errors.add('pricing.credit_cost_multiplier', `credit_cost_multiplier must be a number from 0 to ${MAX_CREDIT_MULTIPLIER}`)
    }
    const model = pricing.pricing_model
    if (model !== undefined && (typeof model !== 'string' || !PRICING_MODELS.has(model))) {
      errors.add('pricing.pricing_model', `pricing_model must be one of ${[...PRICING_MODELS].join(', ')}`)
    }
  }
  let url: URL | undefined
  try {
    url = new URL(req.endpoint)
  } catch {
    errors.add('endpoint', 'endpoint must be an absolute http(s) URL')
  }
  if (url) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') errors.add('endpoint', `endpoint scheme '${url.protocol.slice(0, -1)}' not allowed (expected http or https)`)
    if (url.username || url.password) errors.add('endpoint', 'endpoint must not carry credentials')
    if (url.search || url.hash) errors.add('endpoint', 'endpoint must not carry a query or fragment')
  }
  return req
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

/** Both `nat_type` (not unknown) and `transport_method` declared: the node says it is reached another way. */
function declaresNat(req: RegisterRequest): boolean {
  return typeof req.nat_type === 'string' && req.nat_type !== 'unknown' && typeof req.transport_method === 'string'
}

/** POST /v1/register */
export async function register(dir: DirectoryContext, ctx: RequestContext): Promise<Reply> {
  const wait = dir.limits.register.hit(ctx.ip, dir.opts.clock())
  if (wait !== undefined) {
    throw new IicpError('rate_limited', `Too many registrations — retry after ${Math.ceil(wait / 1000)}s`, { retryAfterMs: wait })
  }
  const errors = new FieldErrors()
  const req = validate(ctx.body, errors)
  errors.throwIfAny()
  if (!req) throw new IicpError('validation_error')
  const url = new URL(req.endpoint)
  const manifestCheck = await checkPolicyManifest(dir, req)

  if (dir.opts.mode === 'public') {
    // Stricter than the reference: a declared NAT path skips the probe, never the host rules.
    const why = unroutableReason(bareHost(url))
    if (why) throw new IicpError('IICP-E035', `IICP-E035: ${why}`, { fields: { endpoint: [`IICP-E035: ${why}`] } })
  }

  const existing = req.node_id !== undefined ? dir.table.get(req.node_id) : undefined
  const prior = existing?.rec
  const seenBefore = prior?.last_seen
  const owns = prior !== undefined && req.current_node_token !== undefined
    && sameHex(prior.token_hash, hashToken(req.current_node_token))
  if (existing && !owns) await checkRecovery(dir, existing, req)

  if (!dir.opts.skipLivenessCheck && !declaresNat(req)) {
    const probe = await dir.prober.health(req.endpoint)
    if (!probe.ok) {
      const msg = `endpoint unreachable from directory: ${probe.reason}`
      throw new IicpError('liveness_failed', msg, { fields: { endpoint: [msg] } })
    }
  }

  // The probes let other requests run: a node that registered, rotated, was deleted or (for a token-less
  // recovery) heartbeated meanwhile invalidates the ownership verdict above.
  const current = req.node_id !== undefined ? dir.table.get(req.node_id) : undefined
  if (current !== existing || current?.rec !== prior || (!owns && current?.rec.last_seen !== seenBefore)) {
    throw new IicpError('conflict', 'node_id changed while this registration was checked; register again')
  }

  const now = dir.opts.clock()
  const nodeToken = newNodeToken()
  const proxyToken = newProxyToken()
  const hmacKey = newHmacKey()
  const meta: Record<string, unknown> = {}
  const raw = req as Record<string, unknown>
  for (const k of META_KEYS) if (raw[k] !== undefined && raw[k] !== null) meta[k] = raw[k]
  if (manifestCheck) meta.policy_manifest_verification = manifestCheck
  const rec: NodeRecord = {
    node_id: req.node_id ?? randomUUID(),
    token_hash: hashToken(nodeToken),
    proxy_token_hash: hashToken(proxyToken),
    hmac_key: hmacKey,
    endpoint: req.endpoint,
    region: req.region,
    capabilities: req.capabilities as Array<Record<string, unknown>>,
    max_concurrent: req.limits.max_concurrent,
    tokens_per_min: req.limits.tokens_per_min ?? null,
    meta,
    registered_at: prior?.registered_at ?? now,
    last_seen: now,
    // Not a REGISTER field in the spec: a node registering a route that is not up yet (a relay worker before its
    // bind) says so, as its first heartbeat would, so discover never lists it in between (wire.md §1.3).
    available: raw.available !== false,
    load: 0,
    active_jobs: 0,
    completed_tasks: prior?.completed_tasks ?? 0,
    failed_tasks: prior?.failed_tasks ?? 0,
    reputation: prior?.reputation ?? 0.5,
    liveness_verified: !dir.opts.skipLivenessCheck && !declaresNat(req),
    challenge_verified_at: null,
    observed_source_ip: ctx.ip,
    last_metrics_batch: null,
    observed_latency_ms: prior?.observed_latency_ms ?? null,
  }
  const node = dir.table.put(rec, now)
  node.challenges = undefined
  dir.store.saveNode(rec)
  dir.log.info({ node_id: rec.node_id, region: rec.region, rotated: owns }, existing ? 'node re-registered' : 'node registered')
  return {
    status: 201,
    body: {
      message_type: 'ACK',
      node_id: rec.node_id,
      node_token: nodeToken,
      proxy_token: proxyToken,
      node_hmac_key: hmacKey,
      expires_at: null,
      directory: ctx.origin,
      observed_source_ip: ctx.ip,
      recovered: existing !== undefined,
      next_heartbeat_ms: dir.opts.heartbeatIntervalMs,
    },
  }
}

/**
 * dir §3.1 (wire.md §1.2): a signed `policy_manifest` whose signature is invalid or expired is refused, before any
 * probe; an unsigned one is kept as self-attested. The verdict is stored so discover and tickets never re-verify.
 */
async function checkPolicyManifest(dir: DirectoryContext, req: RegisterRequest): Promise<PolicyManifestVerification | undefined> {
  const manifest = req.policy_manifest as Record<string, unknown> | null | undefined
  if (!manifest) return undefined
  const v = await verifyPolicyManifest(manifest, dir.opts.clock())
  if (v.status === 'signed_invalid' || v.status === 'signed_expired') {
    const msg = v.status === 'signed_expired' ? 'signed_expired: the policy manifest signature has expired' : `signed_invalid: ${v.error ?? 'signature not valid'}`
    throw new IicpError('validation_error', 'Input validation failed', { fields: { 'policy_manifest.signature': [msg] } })
  }
  return v
}

/**
 * An existing node_id without a matching current_node_token: allowed only as the recovery of a dormant node
 * without a CX key; anything else is a 403 that leaves the owner's token and route as they were.
 */
async function checkRecovery(dir: DirectoryContext, existing: LiveNode, req: RegisterRequest): Promise<void> {
  const old = existing.rec
  const raw = req as Record<string, unknown>
  const claim = req.current_node_token === undefined ? 'without current_node_token' : 'with a current_node_token that does not match'
  if (old.meta.cx_public_key !== undefined) {
    if (!sameJson(old.meta.cx_public_key, raw.cx_public_key)) {
      throw refusal(dir, existing, 'IICP-E049', `cx_public_key change ${claim}`)
    }
    // dir §5 E′: a tokenless refresh of a secured node could mint a token that then authorizes a route change.
    throw refusal(dir, existing, 'IICP-E050', `re-registration of a node with a CX key ${claim}`)
  }
  if (dir.table.isLive(existing, dir.opts.clock())) {
    throw refusal(dir, existing, 'IICP-E050', `re-registration of a live node ${claim} (token-less recovery waits until the node has missed heartbeats for ${Math.round(dir.opts.expiryMs / 1000)} s)`)
  }
  const routingChanged = old.endpoint !== req.endpoint
    || !sameJson(old.meta.transport_endpoint, raw.transport_endpoint)
    || !sameJson(old.meta.relay_endpoint, raw.relay_endpoint)
  if (!routingChanged) return
  // The previous endpoint may be taken over only once it is verifiably dead (dir §5 E050 (b)).
  const stillThere = await dir.prober.health(old.endpoint)
  const unverifiable = !stillThere.ok && dir.prober.refusal(safeHost(old.endpoint)) !== undefined
  if (stillThere.ok || unverifiable) {
    throw refusal(dir, existing, 'IICP-E050', `routing-field change ${claim} while the previous endpoint ${stillThere.ok ? 'still answers' : 'cannot be probed'}`)
  }
}

function refusal(dir: DirectoryContext, node: LiveNode, code: 'IICP-E049' | 'IICP-E050', message: string): IicpError {
  dir.log.warn({ node_id: node.id, code }, 'registration of a known node_id refused: no ownership proof')
  return new IicpError(code, message)
}

function safeHost(endpoint: string): string {
  try {
    return bareHost(new URL(endpoint))
  } catch {
    return ''
  }
}

/** DELETE /v1/register (and POST /v1/deregister): Bearer node_token, optional body node_id. */
export function deregister(dir: DirectoryContext, ctx: RequestContext): Reply {
  const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>
  const node = authenticateNode(ctx, dir.table, body.node_id)
  dir.table.remove(node.id)
  dir.store.deleteNode(node.id)
  dir.log.info({ node_id: node.id, reason: 'explicit' }, 'node deregistered')
  return { status: 200, body: { deregistered: true, node_id: node.id } }
}
