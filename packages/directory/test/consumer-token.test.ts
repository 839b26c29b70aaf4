/**
 * `POST /api/v1/consumer-token` over real HTTP (dir §3.12; wire.md §1.8): a registered caller node's Bearer token
 * and `{target_node_id, intent}` get a 201 token whose Ed25519 signature over `"iicp:consumer-token:v1\n" +
 * payload` verifies with the key served at /api/v1/directory-key, with claims {v, iss, sub, aud, intent, iat,
 * exp = iat + 300}; no or a wrong token is a JSON 401, an unknown target 404, a bad body 422, and the 61st
 * token in a minute for one caller a 429 with Retry-After.
 */
import { createPublicKey, verify } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PATH = '/api/v1/consumer-token'

function verifyToken(token: string, publicKeyHex: string): boolean {
  const [payload, sig] = token.split('.') as [string, string]
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' })
  return verify(null, Buffer.from(`iicp:consumer-token:v1\n${payload}`), key, Buffer.from(sig, 'hex'))
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>
}

describe('POST /api/v1/consumer-token', () => {
  let dir: RunningDirectory
  const clock = manualClock()
  const servers: Awaited<ReturnType<typeof startHealthServer>>[] = []
  let caller: { id: string; token: string }
  let target: { id: string; token: string }

  async function register(): Promise<{ id: string; token: string }> {
    const s = await startHealthServer()
    servers.push(s)
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(s.url) })
    expect(r.status).toBe(201)
    return { id: r.json.node_id as string, token: r.json.node_token as string }
  }

  beforeEach(async () => {
    dir = await startDirectory({ port: 0, clock: clock.now, pruneIntervalMs: 0 })
    caller = await register()
    target = await register()
  })
  afterEach(async () => {
    await dir.close()
    for (const s of servers.splice(0)) await s.close()
  })

  it('issues a token for the target and intent, signed by the directory key, valid for 300 s', async () => {
    const r = await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id, intent: CHAT } })
    expect(r.status).toBe(201)
    expect(r.headers['cache-control']).toBe('no-store')
    const iat = Math.floor(clock.now() / 1000)
    expect(r.json).toEqual({
      token: expect.stringMatching(/^[A-Za-z0-9_-]+\.[0-9a-f]{128}$/), expires_at: iat + 300, caller_node_id: caller.id,
      target_node_id: target.id, intent: CHAT, algorithm: 'ed25519',
    })
    const token = r.json.token as string
    expect(claimsOf(token)).toEqual({ v: 1, iss: dir.url, sub: caller.id, aud: target.id, intent: CHAT, iat, exp: iat + 300 })
    const key = await call(dir.url, 'GET', '/api/v1/directory-key')
    expect(verifyToken(token, key.json.public_key as string)).toBe(true)
    // A token never verifies under a tampered payload.
    const forged = `${Buffer.from(JSON.stringify({ ...claimsOf(token), aud: caller.id })).toString('base64url')}.${token.split('.')[1] as string}`
    expect(verifyToken(forged, key.json.public_key as string)).toBe(false)
    expect(r.text).not.toContain(caller.token)
  })

  it('issues a wildcard-intent token when the body names no intent', async () => {
    const r = await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id } })
    expect(r.status).toBe(201)
    expect(claimsOf(r.json.token as string).intent).toBe('*')
  })

  it('answers 401 JSON without credentials or with a token no node holds, never echoing it', async () => {
    const none = await call(dir.url, 'POST', PATH, { body: { target_node_id: target.id, intent: CHAT } })
    expect(none.status).toBe(401)
    expect(errorOf(none).code).toBe('unauthorized')
    const wrong = await call(dir.url, 'POST', PATH, { token: 'f'.repeat(64), body: { target_node_id: target.id, intent: CHAT } })
    expect(wrong.status).toBe(401)
    expect(wrong.headers['content-type']).toContain('application/json')
    expect(wrong.text).not.toContain('f'.repeat(64))
  })

  it('answers 404 for an unknown target and 422 for a malformed body or intent', async () => {
    const unknown = await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: 'no-such-node', intent: CHAT } })
    expect(unknown.status).toBe(404)
    expect(errorOf(unknown).code).toBe('not_found')
    const missing = await call(dir.url, 'POST', PATH, { token: caller.token, body: { intent: CHAT } })
    expect(missing.status).toBe(422)
    expect(Object.keys(errorOf(missing).fields ?? {})).toEqual(['target_node_id'])
    const badIntent = await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id, intent: 'chat' } })
    expect(badIntent.status).toBe(422)
    expect(Object.keys(errorOf(badIntent).fields ?? {})).toEqual(['intent'])
    const notObject = await call(dir.url, 'POST', PATH, { token: caller.token, raw: '[1]' })
    expect(notObject.status).toBe(422)
  })

  it('limits one caller to 60 tokens a minute with a 429 and Retry-After, then allows more in the next window', async () => {
    for (let i = 0; i < 60; i++) {
      expect((await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id, intent: CHAT } })).status).toBe(201)
    }
    const over = await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id, intent: CHAT } })
    expect(over.status).toBe(429)
    expect(errorOf(over).code).toBe('rate_limited')
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
    // Another caller has its own budget.
    expect((await call(dir.url, 'POST', PATH, { token: target.token, body: { target_node_id: caller.id, intent: CHAT } })).status).toBe(201)
    clock.advance(60_000)
    expect((await call(dir.url, 'POST', PATH, { token: caller.token, body: { target_node_id: target.id, intent: CHAT } })).status).toBe(201)
  })
})
