/**
 * What this proves: in `auth: "token"` mode a task needs the node's own token (body or Bearer,
 * compared in constant time) or a consumer token signed by the directory key for this node and intent
 * (wire.md §1.8); anything else is a JSON 401. And across registration, heartbeats, tasks and errors the
 * node's pino logger never prints a token, the HMAC key, or a task payload (SEC-LOG-01, SDK-06).
 */
import { createPrivateKey, sign } from 'node:crypto'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair } from '@iicp/protocol'
import type { SigningKeyPair } from '@iicp/protocol'
import { CONSUMER_TOKEN_CONTEXT, IicpNode, createNodeLogger, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { CHAT, call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function consumerToken(key: SigningKeyPair, claims: Record<string, unknown>): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const pk = createPrivateKey({ key: Buffer.from(key.privateKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' })
  return `${payload}.${sign(null, Buffer.from(CONSUMER_TOKEN_CONTEXT + payload), pk).toString('hex')}`
}

async function setup(extra: Partial<NodeOptions> = {}): Promise<{ node: IicpNode; key: SigningKeyPair; token: () => string; timers: ManualTimers }> {
  const key = await generateSigningKeyPair()
  const d = await directory({ signingKey: key })
  cleanup.push(() => d.close())
  const timers = new ManualTimers()
  let token = ''
  const node = new IicpNode({ directoryUrl: d.apiUrl, persistState: false, host: '127.0.0.1', port: 0, backend: echo(), auth: 'token', timers, ...extra } as NodeOptions)
  cleanup.push(() => node.close())
  await node.serve()
  // Tests peek at the token an operator would hand to a trusted consumer; it has no public getter on purpose.
  token = (node as unknown as { identity: { nodeToken: string } }).identity.nodeToken
  return { node, key, token: () => token, timers }
}

describe('auth: token mode', () => {
  it('accepts the node token in the body or as a Bearer header, and refuses a wrong one with 401', async () => {
    const { node, token } = await setup()
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ auth: { node_token: token() } }) })).status).toBe(200)
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: { authorization: `Bearer ${token()}` } })).status).toBe(200)
    const wrong = await call(`${node.url}/v1/task`, { body: chatTask({ auth: { node_token: `${token()}x` } }) })
    expect(wrong.status).toBe(401)
    expect(wrong.json).toEqual({ error: { code: 'unauthorized', message: 'Missing or invalid credentials' } })
    expect((await call(`${node.url}/v1/task`, { body: chatTask() })).status).toBe(401)
  })

  it('accepts a directory-signed consumer token for this node and intent, and refuses a foreign, expired or forged one', async () => {
    const { node, key, timers } = await setup()
    // Expiry is judged by the node's injected clock.
    const now = Math.floor(timers.now() / 1000)
    const claims = { v: 1, iss: 'http://127.0.0.1', sub: 'caller-node', aud: node.nodeId, intent: CHAT, iat: now, exp: now + 300 }
    const send = (t: string): Promise<number> => call(`${node.url}/v1/task`, { body: chatTask(), headers: { 'x-iicp-consumer-token': t } }).then((r) => r.status)
    expect(await send(consumerToken(key, claims))).toBe(200)
    expect(await send(consumerToken(key, { ...claims, intent: '*' }))).toBe(200)
    expect(await send(consumerToken(key, { ...claims, aud: 'someone-else' }))).toBe(401)
    expect(await send(consumerToken(key, { ...claims, intent: 'urn:iicp:intent:llm:completion:v1' }))).toBe(401)
    expect(await send(consumerToken(key, { ...claims, iat: now - 900, exp: now - 600 }))).toBe(401)
    const other = await generateSigningKeyPair()
    expect(await send(consumerToken(other, claims))).toBe(401)
    expect(await send('not-a-token')).toBe(401)
  })
})

describe('logging', () => {
  it('never prints tokens, the HMAC key or task payloads, at debug level, across a whole lifecycle', async () => {
    const lines: string[] = []
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
    const logger = createNodeLogger({ level: 'debug', destination })
    const { node, token, timers } = await setup({ logger })
    const secretPrompt = 'my-very-private-prompt-7731'
    await call(`${node.url}/v1/task`, { body: chatTask({ auth: { node_token: token() }, payload: { messages: [{ role: 'user', content: secretPrompt }] } }) })
    await call(`${node.url}/v1/task`, { body: chatTask({ auth: { node_token: 'wrong-token-value-55' }, payload: { messages: [{ role: 'user', content: secretPrompt }] } }) })
    const beat = once(node, 'heartbeat')
    timers.advance(35_000)
    await beat
    const hmacKey = (node as unknown as { identity: { hmacKey: string } }).identity.hmacKey
    await node.close()
    const text = lines.join('')
    expect(text).toContain('registered')
    expect(text).toContain('heartbeat')
    for (const secret of [token(), hmacKey, secretPrompt, 'wrong-token-value-55']) expect(text).not.toContain(secret)
  })

  it('redacts secrets a caller passes to the logger itself', () => {
    const lines: string[] = []
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
    createNodeLogger({ level: 'info', destination }).info({ node_token: 'tok-1', body: { payload: { messages: ['p'] }, auth: { node_token: 'tok-2' } }, headers: { authorization: 'Bearer tok-3' } }, 'x')
    const text = lines.join('')
    expect(text).not.toMatch(/tok-1|tok-2|tok-3|"messages"/)
    expect(text).toContain('[redacted]')
  })
})
