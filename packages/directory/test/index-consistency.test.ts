/**
 * The discover indexes stay consistent with the node table through any sequence of registrations (new
 * capabilities, regions, relay and CIP flags), heartbeats, deregistrations and expiry: after every step,
 * discover over real HTTP returns exactly the nodes a plain model of the table says are live, available
 * and serving the intent, for each filter the indexes serve. Nodes that register identical capabilities
 * share one frozen copy, and the stores still receive every record.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { memoryStore, startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, manualClock, registerBody } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const EMBED = 'urn:iicp:intent:llm:embedding:v1'
const TRANSLATE = 'urn:iicp:intent:translate:v1'
const INTENTS = [CHAT, EMBED, TRANSLATE]
const cap = (intent: string, model: string): Record<string, unknown> => ({ intent, models: [model], max_tokens: 1000 })
const CAPS = [
  [cap(CHAT, 'a')],
  [cap(CHAT, 'a'), cap(EMBED, 'e')],
  [cap(EMBED, 'e'), cap(TRANSLATE, 't')],
  [cap(CHAT, 'b')],
]
const IDS = ['n0', 'n1', 'n2', 'n3']

type Op =
  | { kind: 'register'; id: string; caps: number; region: string; relay: boolean; cip: boolean }
  | { kind: 'heartbeat'; id: string; available: boolean }
  | { kind: 'deregister'; id: string }
  | { kind: 'expire' }

interface ModelNode { caps: number; region: string; relay: boolean; cip: boolean; available: boolean; lastSeen: number; token: string }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const), id: fc.constantFrom(...IDS), caps: fc.integer({ min: 0, max: CAPS.length - 1 }),
    region: fc.constantFrom('eu-central', 'us-west'), relay: fc.boolean(), cip: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('heartbeat' as const), id: fc.constantFrom(...IDS), available: fc.boolean() }),
  fc.record({ kind: fc.constant('deregister' as const), id: fc.constantFrom(...IDS) }),
  fc.constant({ kind: 'expire' as const }),
)

describe('discover index consistency', () => {
  const open: RunningDirectory[] = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })

  it('returns exactly the live, available nodes of each intent after any sequence of changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 10 }), async (ops) => {
        const clock = manualClock()
        const dir = await startDirectory({ port: 0, clock: clock.now, pruneIntervalMs: 0, skipLivenessCheck: true })
        open.push(dir)
        const model = new Map<string, ModelNode>()
        for (const op of ops) {
          const known = op.kind !== 'register' && op.kind !== 'expire' ? model.get(op.id) : undefined
          if (op.kind === 'register') {
            const prior = model.get(op.id)
            const body = registerBody('http://127.0.0.1:9', {
              node_id: op.id, region: op.region, capabilities: CAPS[op.caps], relay_capable: op.relay,
              policy: { allow_remote_inference: op.cip }, ...(prior ? { current_node_token: prior.token } : {}),
            })
            const r = await call(dir.url, 'POST', '/api/v1/register', { body })
            expect(r.status).toBe(201)
            model.set(op.id, { caps: op.caps, region: op.region, relay: op.relay, cip: op.cip, available: true, lastSeen: clock.now(), token: r.json.node_token as string })
          } else if (op.kind === 'heartbeat' && known) {
            const r = await call(dir.url, 'POST', '/api/v1/heartbeat', { token: known.token, body: { node_id: op.id, available: op.available } })
            expect(r.status).toBe(200)
            known.available = op.available
            known.lastSeen = clock.now()
          } else if (op.kind === 'deregister' && known) {
            expect((await call(dir.url, 'DELETE', '/api/v1/register', { token: known.token, body: { node_id: op.id } })).status).toBe(200)
            model.delete(op.id)
          } else if (op.kind === 'expire') {
            clock.advance(90_000)
            dir.directory.prune()
          }

          const listed = [...model].filter(([, n]) => n.available && n.lastSeen + 90_000 > clock.now())
          for (const intent of INTENTS) {
            const serving = listed.filter(([, n]) => CAPS[n.caps]?.some((c) => c.intent === intent))
            const ids = async (suffix: string): Promise<string[]> => {
              const r = await call(dir.url, 'GET', `/api/v1/discover?intent=${encodeURIComponent(intent)}&limit=50${suffix}`)
              const nodes = r.json.nodes as Array<{ node_id: string; score: number }>
              for (let i = 1; i < nodes.length; i++) expect(nodes[i - 1]!.score).toBeGreaterThanOrEqual(nodes[i]!.score)
              return nodes.map((n) => n.node_id).sort()
            }
            const all = serving.map(([id]) => id).sort()
            expect(await ids('')).toEqual(all)
            expect(await ids('&region=us-west')).toEqual(all)
            expect(await ids('&cip_capable=1')).toEqual(serving.filter(([, n]) => n.cip).map(([id]) => id).sort())
          }
          const relay = (await call(dir.url, 'GET', `/api/v1/discover?intent=${encodeURIComponent(CHAT)}`)).json.relay_available
          expect(relay).toBe(listed.some(([, n]) => n.relay))
          expect(dir.directory.activeNodeCount).toBe(listed.length)
          expect(dir.directory.nodeCount).toBe(model.size)
        }
        await dir.close()
        open.pop()
      }),
      { numRuns: 20 },
    )
    // Some 2 000 loopback requests: a generous bound for a loaded CI machine, not a speed assertion.
  }, 120_000)

  it('shares one frozen capabilities copy between nodes registering the same ones, and stores every record', async () => {
    const store = memoryStore()
    const dir = await startDirectory({ port: 0, pruneIntervalMs: 0, skipLivenessCheck: true, store })
    open.push(dir)
    for (const [id, caps] of [['s1', CAPS[1]], ['s2', CAPS[1]], ['s3', CAPS[2]]] as const) {
      expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: id, capabilities: caps }) })).status).toBe(201)
    }
    const recs = new Map((await store.loadNodes()).map((r) => [r.node_id, r]))
    expect(recs.size).toBe(3)
    expect(recs.get('s1')?.capabilities).toBe(recs.get('s2')?.capabilities)
    expect(recs.get('s3')?.capabilities).not.toBe(recs.get('s1')?.capabilities)
    expect(recs.get('s1')?.capabilities).toEqual(CAPS[1])
    expect(Object.isFrozen(recs.get('s1')?.capabilities)).toBe(true)
    expect(Object.isFrozen(recs.get('s1')?.capabilities[0])).toBe(true)

    // A memoryStore handed to the next directory brings the nodes back, capabilities included.
    await dir.close()
    open.pop()
    const next = await startDirectory({ port: 0, pruneIntervalMs: 0, skipLivenessCheck: true, store })
    open.push(next)
    expect(next.directory.nodeCount).toBe(3)
    const embed = await call(next.url, 'GET', `/api/v1/discover?intent=${encodeURIComponent(EMBED)}`)
    expect((embed.json.nodes as Array<{ node_id: string }>).map((n) => n.node_id).sort()).toEqual(['s1', 's2', 's3'])
  })
})
