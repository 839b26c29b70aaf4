/**
 * What this proves, over real HTTP against a real node: a replayed nonce is refused with 409 IICP-E011
 * `replay_detected` for 300 s (and only then forgotten) without reaching the handler; opt-in task_id
 * idempotency hands back the first answer for the same content (joining a run still in flight),
 * refuses other content with 409 `conflict`, and lets a failed task be retried; the per-Origin task
 * rate limit admits 120 per rolling 60 s per Origin, answers JSON 429 IICP-E023 with Retry-After, and
 * never counts requests without an Origin. The clock is injected, so windows pass without waiting.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { IicpNode, nodeOptionsFromEnv, resolveNodeOptions } from '../src/index.js'
import type { InnerResult, NodeOptions } from '../src/index.js'
import { OriginRateLimiter } from '../src/guards/origin-rate-limit.js'
import { ExpiringEntries } from '../src/guards/expiring-entries.js'
import { CHAT, call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const nodes: IicpNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

interface Counted {
  node: IicpNode
  timers: ManualTimers
  runs: () => number
}

async function start(opts: Partial<NodeOptions> = {}, handler?: () => InnerResult | Promise<InnerResult>): Promise<Counted> {
  const timers = new ManualTimers()
  let runs = 0
  const node = new IicpNode({
    directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, timers,
    capabilities: [{ intent: CHAT, models: ['m1'] }],
    handler: () => {
      runs++
      return handler !== undefined ? handler() : { choices: [{ index: 0, message: { role: 'assistant', content: `run ${runs}` } }] }
    },
    ...opts,
  } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return { node, timers, runs: () => runs }
}

function errorOf(json: unknown): Record<string, unknown> {
  return (json as { error: Record<string, unknown> }).error
}

describe('nonce replay cache', () => {
  it('refuses a replayed nonce with 409 IICP-E011 replay_detected and never runs the handler for it', async () => {
    const { node, runs } = await start()
    const first = await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-0001' }) })
    expect(first.status).toBe(200)
    const replay = await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-0001' }) })
    expect(replay.status).toBe(409)
    expect(replay.headers['content-type']).toMatch(/^application\/json/)
    expect(replay.json).toEqual({ error: { code: 'IICP-E011', message: 'replay_detected' } })
    expect(runs()).toBe(1)
    const fresh = await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-0002' }) })
    expect(fresh.status).toBe(200)
    expect(runs()).toBe(2)
  })

  it('forgets a nonce once 300 s have passed, and not a moment earlier', async () => {
    const { node, timers } = await start()
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-x' }) })).status).toBe(200)
    timers.advance(299_999)
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-x' }) })).status).toBe(409)
    timers.advance(1)
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-x' }) })).status).toBe(200)
  })

  it('does not consume a nonce when the task is refused before admission, so the caller may resend it', async () => {
    let release: (() => void) | undefined
    const { node } = await start({ maxConcurrent: 1 }, () => new Promise<InnerResult>((resolve) => { release = () => resolve({ ok: true }) }))
    const busy = call(`${node.url}/v1/task`, { body: chatTask() })
    await new Promise<void>((resolve) => { const poll = (): void => { if (node.activeJobs === 1) resolve(); else setImmediate(poll) }; poll() })
    const refused = await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-busy' }) })
    expect(refused.status).toBe(429)
    expect(errorOf(refused.json).code).toBe('capacity_exceeded')
    release?.()
    expect((await busy).status).toBe(200)
    const resent = call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'n-busy' }) })
    await new Promise<void>((resolve) => { const poll = (): void => { if (release !== undefined && node.activeJobs === 1) resolve(); else setImmediate(poll) }; poll() })
    release?.()
    expect((await resent).status).toBe(200)
  })

  it('can be turned off, after which a repeated nonce is just another task', async () => {
    const { node, runs } = await start({ nonceReplayCache: false })
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'same' }) })).status).toBe(200)
    expect((await call(`${node.url}/v1/task`, { body: chatTask({ nonce: 'same' }) })).status).toBe(200)
    expect(runs()).toBe(2)
  })
})

describe('task_id idempotency (opt-in)', () => {
  it('is off by default: a repeated task_id is a 409 conflict, as IICP-core §3.1 says', async () => {
    const { node } = await start()
    const task = chatTask()
    expect((await call(`${node.url}/v1/task`, { body: task })).status).toBe(200)
    const again = await call(`${node.url}/v1/task`, { body: task })
    expect(again.status).toBe(409)
    expect(errorOf(again.json)).toEqual({ code: 'conflict', message: 'Duplicate task_id' })
  })

  it('returns the cached answer for the same task_id and content, whatever the key order, without running the handler again', async () => {
    const { node, runs } = await start({ enableIdempotency: true })
    const task = chatTask()
    const first = await call(`${node.url}/v1/task`, { body: task })
    expect(first.status).toBe(200)
    expect(first.headers['x-iicp-idempotent-replay']).toBeUndefined()
    const reordered = `{ "payload": ${JSON.stringify(task.payload)}, "intent": "${CHAT}", "task_id": "${String(task.task_id)}" }`
    const again = await call(`${node.url}/v1/task`, { body: reordered })
    expect(again.status).toBe(200)
    expect(again.headers['x-iicp-idempotent-replay']).toBe('true')
    expect(again.text).toBe(first.text)
    expect(runs()).toBe(1)
  })

  it('refuses the same task_id with other content as a 409 conflict', async () => {
    const { node, runs } = await start({ enableIdempotency: true })
    const task = chatTask()
    expect((await call(`${node.url}/v1/task`, { body: task })).status).toBe(200)
    const other = await call(`${node.url}/v1/task`, { body: { ...task, payload: { messages: [{ role: 'user', content: 'something else' }] } } })
    expect(other.status).toBe(409)
    expect(errorOf(other.json)).toEqual({ code: 'conflict', message: 'task_id was already used for a different task', reason: 'idempotency_key_reused' })
    expect(runs()).toBe(1)
  })

  it('joins a duplicate to the run still in flight instead of starting a second one', async () => {
    let release: ((v: InnerResult) => void) | undefined
    const { node, runs } = await start({ enableIdempotency: true }, () => new Promise<InnerResult>((resolve) => { release = resolve }))
    const task = chatTask()
    const a = call(`${node.url}/v1/task`, { body: task })
    await new Promise<void>((resolve) => { const poll = (): void => { if (release !== undefined) resolve(); else setImmediate(poll) }; poll() })
    // The same pipeline as POST /v1/task; it looks the task up synchronously, so b joins while a still runs.
    const b = node.handleTask(JSON.stringify(task))
    release?.({ answer: 42 })
    const [ra, rb] = await Promise.all([a, b])
    expect(ra.status).toBe(200)
    expect(rb.status).toBe(200)
    expect(rb.headers['x-iicp-idempotent-replay']).toBe('true')
    expect(rb.body).toBe(ra.text)
    expect((JSON.parse(rb.body) as { result: unknown }).result).toEqual({ answer: 42 })
    expect(runs()).toBe(1)
  })

  it('forgets a task whose run failed, so the retry runs again', async () => {
    let fail = true
    const { node, runs } = await start({ enableIdempotency: true }, () => {
      if (fail) throw new IicpError('backend_error', 'Backend failed')
      return { ok: true }
    })
    const task = chatTask()
    const first = await call(`${node.url}/v1/task`, { body: task })
    expect(first.status).toBe(502)
    fail = false
    const retry = await call(`${node.url}/v1/task`, { body: task })
    expect(retry.status).toBe(200)
    expect(runs()).toBe(2)
  })

  it('keeps an answer for 300 s; after that the task_id is an ordinary duplicate again', async () => {
    const { node, timers, runs } = await start({ enableIdempotency: true })
    const task = chatTask()
    await call(`${node.url}/v1/task`, { body: task })
    timers.advance(299_999)
    expect((await call(`${node.url}/v1/task`, { body: task })).headers['x-iicp-idempotent-replay']).toBe('true')
    timers.advance(1)
    const late = await call(`${node.url}/v1/task`, { body: task })
    expect(late.status).toBe(409)
    expect(errorOf(late.json).code).toBe('conflict')
    expect(runs()).toBe(1)
  })
})

describe('per-Origin task rate limit', () => {
  it('admits 120 tasks per Origin per 60 s by default and answers the 121st with JSON 429 IICP-E023 and Retry-After', async () => {
    const { node, timers } = await start()
    const origin = { origin: 'https://app.example' }
    for (let i = 0; i < 120; i++) {
      const r = await call(`${node.url}/v1/task`, { body: chatTask(), headers: origin })
      expect(r.status).toBe(200)
    }
    timers.advance(15_000)
    const limited = await call(`${node.url}/v1/task`, { body: chatTask(), headers: origin })
    expect(limited.status).toBe(429)
    expect(limited.headers['content-type']).toMatch(/^application\/json/)
    expect(limited.headers['retry-after']).toBe('45')
    expect(limited.json).toEqual({ error: { code: 'IICP-E023', message: 'Task rate limit for this Origin exceeded', retry_after_ms: 45_000, reason: 'origin_rate_limited' } })
  })

  it('counts each Origin apart, never limits requests without an Origin, and admits again once the window rolls on', async () => {
    const { node, timers } = await start({ taskRateLimit: 2 })
    const a = { origin: 'https://a.example' }
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: a })).status).toBe(200)
    timers.advance(10_000)
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: a })).status).toBe(200)
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: a })).status).toBe(429)
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: { origin: 'https://b.example' } })).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await call(`${node.url}/v1/task`, { body: chatTask() })).status).toBe(200)
    timers.advance(50_000)
    // The first admission left the window; the second (at 10 s) is still in it.
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: a })).status).toBe(200)
    expect((await call(`${node.url}/v1/task`, { body: chatTask(), headers: a })).status).toBe(429)
  })

  it('limits before parsing, so even malformed bodies from a flooding Origin are turned away cheaply', async () => {
    const { node } = await start({ taskRateLimit: 1 })
    const h = { origin: 'https://flood.example' }
    expect((await call(`${node.url}/v1/task`, { body: 'not json', headers: h })).status).toBe(400)
    const r = await call(`${node.url}/v1/task`, { body: 'not json', headers: h })
    expect(r.status).toBe(429)
    expect(errorOf(r.json).code).toBe('IICP-E023')
  })

  it('is exact over a rolling window: no double burst at a window edge', () => {
    const l = new OriginRateLimiter(3, 60_000)
    for (const t of [59_000, 59_500, 59_900]) expect(l.admit('o', t)).toBeUndefined()
    // A fixed window starting at 60 s would admit three more here.
    expect(l.admit('o', 60_100)?.code).toBe('IICP-E023')
    expect(l.admit('o', 60_100)?.retryAfterMs).toBe(58_900)
    expect(l.admit('o', 119_000)).toBeUndefined()
  })

  it('bounds the Origins it tracks, dropping idle ones first', () => {
    const l = new OriginRateLimiter(1, 1000, 2)
    l.admit('a', 0)
    l.admit('b', 500)
    l.admit('c', 1200)
    expect(l.size).toBe(2)
    expect(l.admit('b', 1300)?.code).toBe('IICP-E023')
  })
})

describe('guard options', () => {
  it('reads IICP_TASK_RATE_LIMIT and IICP_IDEMPOTENCY, and checks the ranges', () => {
    expect(nodeOptionsFromEnv({ IICP_TASK_RATE_LIMIT: '0', IICP_IDEMPOTENCY: '1' })).toEqual({ taskRateLimit: 0, enableIdempotency: true })
    const o = resolveNodeOptions({ handler: () => null })
    expect(o).toMatchObject({ taskRateLimit: 120, taskRateWindowMs: 60_000, nonceReplayCache: true, enableIdempotency: false, replayWindowMs: 300_000 })
    expect(() => resolveNodeOptions({ handler: () => null, taskRateLimit: -1 })).toThrow(/taskRateLimit/)
  })

  it('keeps the expiring caches bounded, evicting the oldest first', () => {
    const e = new ExpiringEntries<number>(1000, 2)
    e.set('a', 1, 0)
    e.set('b', 2, 10)
    e.set('c', 3, 20)
    expect(e.get('a', 30)).toBeUndefined()
    expect(e.get('b', 30)).toBe(2)
    expect(e.size(1010)).toBe(1)
  })
})
