/**
 * Ownership of a registered node_id over real HTTP (dir §5 IICP-E049/E050 with the E′ hardening): node_id
 * and endpoint are public, so a registration without the current token must neither get a token nor revoke
 * the owner's. Proves the audited two-step takeover (token-less refresh at the owner's endpoint, then a
 * move with the minted token) is refused at step one, that a node with a CX key always needs its token,
 * and that the legitimate paths still work: the owner rotating and moving with its token, a node that lost
 * its token recovering once dormant, and a dormant node moving off a dead endpoint. Time is an injected
 * clock; the race case holds a real probe open instead of sleeping.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const DISCOVER = `/api/v1/discover?intent=${encodeURIComponent(CHAT)}`
/** One past the default 90 s heartbeat window: the node is dormant. */
const PAST_EXPIRY_MS = 90_001

const cx = (key: string): Record<string, unknown> => ({ algorithm: 'X25519', encoding: 'base64url', key, key_id: `cx-${key}` })

describe('ownership of a registered node_id', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function setup(opts: Parameters<typeof startDirectory>[0] = {}): Promise<{ dir: RunningDirectory; clock: ReturnType<typeof manualClock> }> {
    const clock = manualClock()
    const dir = await startDirectory({ port: 0, pruneIntervalMs: 0, clock: clock.now, ...opts })
    open.push(dir)
    return { dir, clock }
  }
  async function healthServer(): Promise<Awaited<ReturnType<typeof startHealthServer>>> {
    const s = await startHealthServer()
    open.push(s)
    return s
  }
  const register = (dir: RunningDirectory, endpoint: string, extra: Record<string, unknown>) =>
    call(dir.url, 'POST', '/api/v1/register', { body: registerBody(endpoint, extra) })
  const beat = (dir: RunningDirectory, nodeId: string, token: string) =>
    call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId } })
  const endpoints = async (dir: RunningDirectory): Promise<unknown[]> =>
    ((await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>).map((n) => n.endpoint)

  it('refuses the two-step takeover at step one: a token-less refresh at the owner\'s endpoint gets 403 and no token', async () => {
    const { dir } = await setup()
    const owner = await healthServer()
    const attacker = await healthServer()
    const first = await register(dir, owner.url, { node_id: 'victim' })
    expect(first.status).toBe(201)
    const token = first.json.node_token as string

    // Step one: same id, same (public) endpoint, no token; then with a made-up one.
    for (const proof of [{}, { current_node_token: 'f'.repeat(64) }]) {
      const grab = await register(dir, owner.url, { node_id: 'victim', ...proof })
      expect(grab.status).toBe(403)
      expect(errorOf(grab).code).toBe('IICP-E050')
      expect(grab.json.node_token).toBeUndefined()
      expect(grab.text).not.toContain(token)
    }
    // The owner's token still works: nothing was rotated.
    expect((await beat(dir, 'victim', token)).status).toBe(200)

    // Step two, with the only token an attacker could hold (none valid): refused, and the attacker's
    // endpoint is never even contacted.
    const move = await register(dir, attacker.url, { node_id: 'victim', current_node_token: 'f'.repeat(64) })
    expect(move.status).toBe(403)
    expect(errorOf(move).code).toBe('IICP-E050')
    expect(attacker.hits()).toBe(0)
    expect(await endpoints(dir)).toEqual([owner.url])
    expect((await call(dir.url, 'GET', '/api/v1/node/victim')).json.endpoint).toBe(owner.url)
  })

  it('lets the owner rotate in place and then move with its current token, the old token answering 401', async () => {
    const { dir } = await setup()
    const a = await healthServer()
    const b = await healthServer()
    const first = await register(dir, a.url, { node_id: 'mover' })
    const t1 = first.json.node_token as string
    const refresh = await register(dir, a.url, { node_id: 'mover', current_node_token: t1 })
    expect(refresh.status).toBe(201)
    const t2 = refresh.json.node_token as string
    expect(t2).not.toBe(t1)
    expect((await beat(dir, 'mover', t1)).status).toBe(401)

    // The old endpoint still answers, which the owner's proof makes irrelevant.
    const moved = await register(dir, b.url, { node_id: 'mover', current_node_token: t2 })
    expect(moved.status).toBe(201)
    expect(moved.json.recovered).toBe(true)
    expect((await beat(dir, 'mover', t2)).status).toBe(401)
    expect((await beat(dir, 'mover', moved.json.node_token as string)).status).toBe(200)
    expect(await endpoints(dir)).toEqual([b.url])
  })

  it('recovers a node that restarted without its token only once it has missed heartbeats for the expiry window', async () => {
    const { dir, clock } = await setup()
    const node = await healthServer()
    const first = await register(dir, node.url, { node_id: 'amnesiac' })
    const t1 = first.json.node_token as string
    await call(dir.url, 'POST', '/api/v1/heartbeat', {
      token: t1, body: { node_id: 'amnesiac', metrics: { tasks_success: 5, tasks_failed: 0, avg_latency_ms: 3 }, metrics_batch_id: 'b1' },
    })

    // 60 s after its last heartbeat the node is still live: a token-less registration is refused.
    clock.advance(60_000)
    const early = await register(dir, node.url, { node_id: 'amnesiac' })
    expect(early.status).toBe(403)
    expect(errorOf(early).code).toBe('IICP-E050')
    expect(errorOf(early).message).toContain('90 s')

    clock.advance(PAST_EXPIRY_MS - 60_000)
    expect((await call(dir.url, 'GET', '/api/v1/node/amnesiac')).json.status).toBe('dormant')
    const recovered = await register(dir, node.url, { node_id: 'amnesiac' })
    expect(recovered.status).toBe(201)
    expect(recovered.json.recovered).toBe(true)
    const t2 = recovered.json.node_token as string
    expect((await beat(dir, 'amnesiac', t1)).status).toBe(401)
    expect((await beat(dir, 'amnesiac', t2)).status).toBe(200)
    expect(await endpoints(dir)).toEqual([node.url])
    expect((await call(dir.url, 'GET', '/api/v1/node/amnesiac')).json).toMatchObject({ status: 'active', completed_tasks_count: 5 })
  })

  it('moves a dormant node to a new endpoint without its token only once the old endpoint is dead', async () => {
    const { dir, clock } = await setup()
    const a = await healthServer()
    const b = await healthServer()
    await register(dir, a.url, { node_id: 'rotated' })
    clock.advance(PAST_EXPIRY_MS)
    const whileAlive = await register(dir, b.url, { node_id: 'rotated' })
    expect(whileAlive.status).toBe(403)
    expect(errorOf(whileAlive).code).toBe('IICP-E050')
    expect(errorOf(whileAlive).message).toContain('still answers')

    await a.close()
    const moved = await register(dir, b.url, { node_id: 'rotated' })
    expect(moved.status).toBe(201)
    expect(moved.json.recovered).toBe(true)
    expect(await endpoints(dir)).toEqual([b.url])
  })

  it('does not move a live node whose endpoint the directory cannot reach, as with a NAT-declared node', async () => {
    const { dir } = await setup()
    const attacker = await healthServer()
    // Declared NAT: registered without a probe at an endpoint that answers nobody, yet heartbeating.
    const first = await register(dir, 'http://127.0.0.1:9', { node_id: 'behind-nat', nat_type: 'full_cone', transport_method: 'upnp_mapped' })
    expect(first.status).toBe(201)
    expect((await beat(dir, 'behind-nat', first.json.node_token as string)).status).toBe(200)
    const grab = await register(dir, attacker.url, { node_id: 'behind-nat' })
    expect(grab.status).toBe(403)
    expect(errorOf(grab).code).toBe('IICP-E050')
    expect(attacker.hits()).toBe(0)
    expect((await beat(dir, 'behind-nat', first.json.node_token as string)).status).toBe(200)
  })

  it('refuses every token-less refresh of a node with a CX key, even once dormant (dir §5 E′), and accepts its token', async () => {
    const { dir, clock } = await setup()
    const node = await healthServer()
    const first = await register(dir, node.url, { node_id: 'secured', cx_public_key: cx('AAAA') })
    const token = first.json.node_token as string

    const same = await register(dir, node.url, { node_id: 'secured', cx_public_key: cx('AAAA') })
    expect(same.status).toBe(403)
    expect(errorOf(same).code).toBe('IICP-E050')
    const swapped = await register(dir, node.url, { node_id: 'secured', cx_public_key: cx('BBBB') })
    expect(swapped.status).toBe(403)
    expect(errorOf(swapped).code).toBe('IICP-E049')

    clock.advance(PAST_EXPIRY_MS)
    const dormant = await register(dir, node.url, { node_id: 'secured', cx_public_key: cx('AAAA') })
    expect(dormant.status).toBe(403)
    expect(errorOf(dormant).code).toBe('IICP-E050')

    const owner = await register(dir, node.url, { node_id: 'secured', cx_public_key: cx('BBBB'), current_node_token: token })
    expect(owner.status).toBe(201)
    expect((await call(dir.url, 'GET', '/api/v1/node/secured')).json.cx_public_key).toMatchObject({ key: 'BBBB' })
  })

  it('answers 409 and keeps the owner\'s token when the owner heartbeats while a token-less recovery is being probed', async () => {
    // The held probe must not time out while the heartbeat runs, however loaded the machine.
    const { dir, clock } = await setup({ livenessTimeoutMs: 30_000 })
    let hold: Promise<void> | undefined
    let release = (): void => {}
    let arrived = (): void => {}
    const probed = new Promise<void>((resolve) => { arrived = resolve })
    const server = createServer((req, res) => {
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"status":"ok"}')
      }
      if (hold === undefined) return answer()
      arrived()
      void hold.then(answer)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    open.push({ close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const first = await register(dir, url, { node_id: 'contested' })
    const token = first.json.node_token as string
    clock.advance(PAST_EXPIRY_MS)
    hold = new Promise<void>((resolve) => { release = resolve })
    const pending = register(dir, url, { node_id: 'contested' })
    await probed
    // The owner comes back while the directory is still probing for the token-less registration.
    expect((await beat(dir, 'contested', token)).status).toBe(200)
    release()
    const late = await pending
    expect(late.status).toBe(409)
    expect(errorOf(late).code).toBe('conflict')
    expect(late.json.node_token).toBeUndefined()
    expect((await beat(dir, 'contested', token)).status).toBe(200)
  })
})
