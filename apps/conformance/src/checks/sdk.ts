/**
 * SDK checks: the README's SDK-01..06 and the spec's SDK tests (wire.md §5.1–5.2) run through the SDK's own
 * API against the local mesh. Backoff sleeps are injected and recorded, never slept; the node heartbeat
 * clock is driven by hand. Reasons name codes and counts only, never tokens or payloads.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { inspect, isDeepStrictEqual } from 'node:util'
import type { ClientConfig, IicpClient } from '@iicp/client'
import type { IicpNode, InnerResult, TaskContext, TaskInput } from '@iicp/node'
import { IicpError, errorFromResponse, isIicpError, parseTraceparent } from '@iicp/protocol'
import { CapturingLogger } from '../capturing-logger.js'
import { CHAT_INTENT, FAULT_REGION, MAIN_REGION, SCENARIO_INTENTS } from '../local-mesh.js'
import type { LocalMesh } from '../local-mesh.js'
import { ManualTimers } from '../manual-timers.js'
import type { SdkUnderTest } from '../sdk-under-test.js'
import { fail, pass, safeCode } from './types.js'
import type { Check, CheckContext, CheckResult } from './types.js'

/** The SDK under check and the mesh it runs against. */
export interface SdkTarget {
  readonly sdk: SdkUnderTest
  readonly mesh: LocalMesh
}

const PAYLOAD = Object.freeze({ messages: Object.freeze([Object.freeze({ role: 'user', content: 'conformance probe' })]) })
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const INVALID_INTENTS = [
  'llm:chat:v1', 'urn:iicp:intent:LLM:chat:v1', 'urn:iicp:intent:llm:chat', 'urn:iicp:intent:llm:chat:v1+fast', '',
  'urn:iicp:intent:llm:chat:vX', 'urn:other:intent:llm:chat:v1',
]
const NODE_CHECK_INTENT = 'urn:iicp:intent:x.conformance:nodecheck:v1'

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

async function settle<T>(fn: () => Promise<T> | T): Promise<Settled<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (error) {
    return { ok: false, error }
  }
}

function codeOf(err: unknown): string {
  return isIicpError(err) ? safeCode(err.code) : err instanceof Error ? `raw ${err.name}` : 'non-error'
}

/** A mesh client with recorded (not slept) backoff and a fixed jitter source; closed by `use`. */
async function withClient<R>(t: SdkTarget, extra: ClientConfig, use: (c: IicpClient, sleeps: number[]) => Promise<R>): Promise<R> {
  const sleeps: number[] = []
  const client = t.sdk.createClient({
    directoryUrl: t.mesh.apiUrl,
    allowPrivateEndpoints: true,
    allowPlaintext: true,
    // PROXY-ROUTE-02 is directory order; the client's default (epsilon, as the official SDKs) may explore.
    selection: 'deterministic',
    timeoutMs: 10_000,
    random: () => 0.5,
    sleep: async (ms: number) => {
      sleeps.push(ms)
    },
    ...extra,
  })
  try {
    return await use(client, sleeps)
  } finally {
    await client.close()
  }
}

/** A loopback URL nothing listens on (bound, then released). */
async function deadUrl(): Promise<string> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return `http://127.0.0.1:${port}/api`
}

function chatOf(task: TaskInput): InnerResult {
  return {
    id: `chatcmpl-${task.taskId}`, object: 'chat.completion', model: 'conformance-echo',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  }
}

/** Wait for one event, or give up after `ms` (a safety net so a broken node cannot stall the run). */
function nextEvent(node: IicpNode, event: 'heartbeat', ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      node.off(event, onEvent)
      resolve(v)
    }
    const onEvent = (): void => done(true)
    const onAbort = (): void => done(false)
    const timer = setTimeout(() => done(false), ms)
    node.once(event, onEvent)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

async function invalidIntentsRefused(
  id: string, t: SdkTarget, calls: ReadonlyArray<(c: IicpClient, intent: string) => Promise<unknown>>,
): Promise<CheckResult | { codes: Set<string> }> {
  return withClient(t, {}, async (c) => {
    const before = t.mesh.traffic.total
    const tasksBefore = t.mesh.tasks.length
    const codes = new Set<string>()
    for (const intent of INVALID_INTENTS) {
      for (const call of calls) {
        const r = await settle(() => call(c, intent))
        if (r.ok) return fail(id, `an invalid intent URN (case ${INVALID_INTENTS.indexOf(intent) + 1}) was accepted`)
        if (!isIicpError(r.error)) return fail(id, `an invalid intent URN raised ${codeOf(r.error)}, not an IicpError`)
        codes.add(safeCode(r.error.code))
      }
    }
    if (t.mesh.traffic.total !== before) return fail(id, `invalid intents still produced ${t.mesh.traffic.total - before} directory request(s)`)
    if (t.mesh.tasks.length !== tasksBefore) return fail(id, 'an invalid intent reached a node')
    return { codes }
  })
}

async function expectCode(id: string, label: string, p: () => Promise<unknown>, code: string): Promise<CheckResult | undefined> {
  const r = await settle(p)
  if (r.ok) return fail(id, `${label}: the call succeeded`)
  if (!isIicpError(r.error)) return fail(id, `${label}: raised ${codeOf(r.error)}, not an IicpError`)
  if (r.error.code !== code) return fail(id, `${label}: code ${safeCode(r.error.code)}, expected ${code}`)
  return undefined
}

/** One check per README SDK row, spec SDK test and client routing test. */
export const SDK_CHECKS: readonly Check<SdkTarget>[] = [
  {
    id: 'SDK-01',
    async run(t) {
      const id = this.id
      const other = t.mesh.faults.ok
      if (!other) return fail(id, 'the mesh has no second node for the selection scenario')
      // Two nodes serve the select intent; the client's region preference flips the directory's order.
      const served: string[] = []
      for (const region of [FAULT_REGION, MAIN_REGION]) {
        const verdict = await withClient(t, { region }, async (c) => {
          const found = await c.discover(SCENARIO_INTENTS.select, { limit: 10 })
          const first = found.nodes[0]?.node_id
          if (found.nodes.length < 2 || first === undefined) return fail(id, `discover() listed ${found.nodes.length} of the 2 nodes`)
          const r = await c.submit(SCENARIO_INTENTS.select, PAYLOAD)
          if (r.nodeId !== first || r.attempts !== 1) return fail(id, 'submit() did not send to the directory\'s first eligible node')
          const ranOn = t.mesh.tasks.some((x) => x.taskId === r.taskId) ? t.mesh.nodeId : other.requestsFor(r.taskId) === 1 ? other.nodeId : undefined
          if (ranOn !== first) return fail(id, 'the task did not run on the node submit() reported')
          served.push(first)
          return undefined
        })
        if (verdict) return verdict
      }
      if (new Set(served).size !== 2) return fail(id, 'the directory order did not follow the region preference, so selection is unproven')
      return pass(id, 'discover → first node → submit, for both directory orders of two nodes, with selection \'deterministic\' as the runner sets it (the client\'s default, epsilon, sends 5 % of tasks to a uniformly random eligible node)')
    },
  },
  {
    id: 'SDK-02',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) => {
        const before = t.mesh.tasks.length
        const a = await c.submit(CHAT_INTENT, PAYLOAD)
        const b = await c.submit(CHAT_INTENT, PAYLOAD)
        if (!UUID_V4.test(a.taskId) || !UUID_V4.test(b.taskId)) return fail(id, 'task_id is not a lowercase UUID v4')
        if (a.taskId === b.taskId) return fail(id, 'two tasks shared one task_id')
        const wire = t.mesh.tasks.slice(before).map((x) => x.taskId)
        if (!isDeepStrictEqual(wire, [a.taskId, b.taskId])) return fail(id, 'the task_id on the wire differs from the one reported')
        return pass(id, 'two tasks, two distinct UUID v4 ids, the same on the wire')
      })
    },
  },
  {
    id: 'SDK-03',
    async run(t) {
      const id = this.id
      const refused = await invalidIntentsRefused(id, t, [(c, intent) => c.submit(intent, PAYLOAD)])
      if ('status' in refused) return refused
      return withClient(t, {}, async (c) => {
        const custom = await settle(() => c.discover('urn:iicp:intent:x.conformance:custom:v1'))
        if (!custom.ok) return fail(id, `a valid custom x. URN was refused with ${codeOf(custom.error)}`)
        return pass(id, `${INVALID_INTENTS.length} malformed URNs refused locally (${[...refused.codes].join(', ')}); x. URN accepted`)
      })
    },
  },
  {
    id: 'SDK-04',
    async run(t) {
      const id = this.id
      const ok = await settle(() => t.sdk.createClient({ directoryUrl: t.mesh.apiUrl, allowPrivateEndpoints: true, timeoutMs: 120_000 }))
      if (!ok.ok) return fail(id, `timeoutMs 120000 was refused with ${codeOf(ok.error)}`)
      await ok.value.close()
      const over = await settle(() => t.sdk.createClient({ directoryUrl: t.mesh.apiUrl, allowPrivateEndpoints: true, timeoutMs: 120_001 }))
      if (over.ok) {
        await over.value.close()
        return fail(id, 'timeoutMs 120001 was accepted')
      }
      if (!isIicpError(over.error) || over.error.code !== 'invalid_config') return fail(id, `timeoutMs 120001 raised ${codeOf(over.error)}, expected invalid_config`)
      return withClient(t, {}, async (c) => {
        // Heartbeats from the mesh's nodes may land meanwhile; anything else would be this call's.
        const calls = (): number => t.mesh.traffic.total - t.mesh.traffic.count('POST', '/api/v1/heartbeat')
        const before = calls()
        const tasksBefore = t.mesh.tasks.length
        const perCall = await settle(() => c.submit(CHAT_INTENT, PAYLOAD, { timeoutMs: 120_001 }))
        if (perCall.ok) return fail(id, 'a per-call timeoutMs of 120001 was accepted')
        // Per call the limit is an argument, not configuration: an invalid input is validation_error (core §7).
        if (!isIicpError(perCall.error) || perCall.error.code !== 'validation_error') {
          return fail(id, `a per-call timeoutMs of 120001 raised ${codeOf(perCall.error)}, expected validation_error`)
        }
        if (calls() !== before || t.mesh.tasks.length !== tasksBefore) return fail(id, 'a per-call timeoutMs of 120001 still sent a request')
        return pass(id, '120000 accepted; 120001 refused with invalid_config at construction and with validation_error per call, before any request')
      })
    },
  },
  {
    id: 'SDK-05',
    async run(t) {
      const id = this.id
      const failover = await withClient(t, { region: FAULT_REGION }, async (c) => {
        const r = await settle(() => c.submit(SCENARIO_INTENTS.failover, PAYLOAD))
        if (!r.ok) return fail(id, `503 then a healthy node: submit() failed with ${codeOf(r.error)}`)
        if (r.value.attempts !== 2 || r.value.errors[0]?.status !== 503) return fail(id, `expected a 503 then success in 2 attempts, saw ${r.value.attempts} attempt(s)`)
        if (r.value.nodeId !== t.mesh.nodeId) return fail(id, 'the retry did not land on the healthy node')
        return undefined
      })
      if (failover) return failover
      const fault = t.mesh.faults['rate-limited-once']
      if (!fault) return fail(id, 'the mesh has no 429 node')
      return withClient(t, {}, async (c, sleeps) => {
        const r = await settle(() => c.submit(SCENARIO_INTENTS.retryAfter, PAYLOAD))
        if (!r.ok) return fail(id, `429 + Retry-After then success: submit() failed with ${codeOf(r.error)}`)
        if (r.value.attempts !== 2 || fault.requestsFor(r.value.taskId) !== 2) return fail(id, `expected 2 attempts on the 429 node, saw ${r.value.attempts}`)
        const waited = Math.max(0, ...sleeps)
        if (waited < 3_000) return fail(id, `retried after ${waited} ms, before the 3 s Retry-After`)
        return pass(id, `503 failed over in 2 attempts; 429 retried after ${waited} ms (Retry-After 3 s)`)
      })
    },
  },
  {
    id: 'SDK-06',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) => {
        const traceId = randomBytes(16).toString('hex')
        const caller = `00-${traceId}-${randomBytes(8).toString('hex')}-01`
        const before = t.mesh.tasks.length
        await c.submit(CHAT_INTENT, PAYLOAD, { traceparent: caller })
        const got = parseTraceparent(t.mesh.tasks[before]?.traceparent)
        if (!got) return fail(id, 'the node received no valid traceparent')
        if (got.traceId !== traceId) return fail(id, 'the node\'s traceparent does not continue the caller\'s trace id')
        const fresh = await c.submit(CHAT_INTENT, PAYLOAD)
        const own = parseTraceparent(t.mesh.tasks[before + 1]?.traceparent)
        if (!own) return fail(id, 'without a caller trace the node received no valid traceparent')
        if (own.traceId !== fresh.traceId) return fail(id, 'the trace id sent differs from the one reported')
        return pass(id, 'caller trace id continued; a fresh valid traceparent sent otherwise')
      })
    },
  },
  {
    id: 'SPEC-SDK-01',
    async run(t) {
      const id = this.id
      const fault = t.mesh.faults.unavailable
      if (!fault) return fail(id, 'the mesh has no 503 node')
      return withClient(t, {}, async (c) => {
        const taskId = randomUUID()
        const r = await settle(() => c.submit(SCENARIO_INTENTS.exhaust, PAYLOAD, { taskId }))
        if (r.ok) return fail(id, 'submit() succeeded against a node that only answers 503')
        if (!isIicpError(r.error)) return fail(id, `exhausted retries raised ${codeOf(r.error)}, not an IicpError`)
        const n = fault.requestsFor(taskId)
        if (n !== 3) return fail(id, `made ${n} attempt(s) on transient 503s, expected 3`)
        return pass(id, `3 attempts, then IicpError ${safeCode(r.error.code)}`)
      })
    },
  },
  {
    id: 'SPEC-SDK-02',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) => {
        const r = (await c.chat([{ role: 'user', content: 'conformance probe' }])) as unknown
        const choice = (r as { choices?: Array<{ message?: { content?: unknown } }> } | null)?.choices?.[0]
        if (typeof choice?.message?.content !== 'string') return fail(id, 'chat() result lacks choices[0].message.content')
        return pass(id, 'chat() returned choices[0].message.content')
      })
    },
  },
  {
    id: 'SPEC-SDK-03',
    async run(t) {
      const id = this.id
      const refused = await invalidIntentsRefused(id, t, [
        (c, intent) => c.submit(intent, PAYLOAD),
        (c, intent) => c.discover(intent),
        (c, intent) => c.chat([{ role: 'user', content: 'x' }], { intent }),
      ])
      if ('status' in refused) return refused
      return pass(id, `submit, discover and chat refuse ${INVALID_INTENTS.length} malformed URNs with no request sent`)
    },
  },
  {
    id: 'SPEC-SDK-04',
    async run(t) {
      const id = this.id
      for (const timeoutMs of [120_001, 300_000]) {
        let built: IicpClient | undefined
        try {
          built = t.sdk.createClient({ directoryUrl: t.mesh.apiUrl, allowPrivateEndpoints: true, timeoutMs })
        } catch (err) {
          if (!isIicpError(err) || err.code !== 'invalid_config') return fail(id, `timeout_ms ${timeoutMs} raised ${codeOf(err)}, expected invalid_config`)
          continue
        }
        await built.close()
        return fail(id, `timeout_ms ${timeoutMs} was accepted at construction`)
      }
      return pass(id, 'timeout_ms above 120000 rejected at construction with invalid_config')
    },
  },
  {
    id: 'SPEC-SDK-05',
    async run(t) {
      const id = this.id
      const r = await settle(() => t.sdk.createClient({ directoryUrl: t.mesh.apiUrl, allowPrivateEndpoints: true, tlsVerify: false }))
      if (r.ok) {
        await r.value.close()
        return fail(id, 'tlsVerify: false was accepted')
      }
      if (!isIicpError(r.error)) return fail(id, `tlsVerify: false raised ${codeOf(r.error)}, not an IicpError`)
      return pass(id, `tlsVerify: false refused with ${safeCode(r.error.code)}`)
    },
  },
  {
    id: 'SPEC-SDK-06',
    async run(t) {
      const id = this.id
      // Dots keep it out of generic secret patterns, so only the SDK's own redaction of its token can hide it.
      const token = `conformance.${randomBytes(12).toString('base64url').replace(/[^a-z]/gi, 'q').toLowerCase()}.secret`
      const logger = new CapturingLogger()
      return withClient(t, { nodeToken: token, logger }, async (c) => {
        const leaks: string[] = []
        for (const intent of [SCENARIO_INTENTS.leak, SCENARIO_INTENTS.html, SCENARIO_INTENTS.exhaust]) {
          const r = await settle(() => c.submit(intent, PAYLOAD))
          if (r.ok) return fail(id, 'a task against a failing node succeeded')
          const e = r.error
          const views = [String(e), e instanceof Error ? e.message : '', JSON.stringify(e) ?? '', inspect(e, { depth: 10 })]
          if (views.some((v) => v.includes(token))) leaks.push('error')
        }
        await c.submit(CHAT_INTENT, PAYLOAD)
        if ([inspect(c.config), JSON.stringify(c), inspect(c, { depth: 5 })].some((v) => v.includes(token))) leaks.push('config view')
        if (logger.lines.some((l) => l.includes(token))) leaks.push('log output')
        if (leaks.length > 0) return fail(id, `the node_token appears in: ${[...new Set(leaks)].join(', ')}`)
        const echoed = t.mesh.faults['token-echo']?.quoted(token) === true
        return pass(id, `token absent from 3 failed-task errors${echoed ? ' (one node quoted it back)' : ''}, config views and ${logger.lines.length} log line(s)`)
      })
    },
  },
  {
    id: 'SDK-DISC-01',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) => {
        let seen = 0
        for (const intent of [CHAT_INTENT, SCENARIO_INTENTS.failover]) {
          const r = await c.discover(intent)
          for (const n of r.nodes) {
            seen += 1
            if (typeof n.score !== 'number' || !(n.score >= 0 && n.score <= 1)) return fail(id, 'a node score lies outside [0, 1]')
          }
        }
        if (seen === 0) return fail(id, 'discover() returned no nodes from a populated mesh')
        return pass(id, `${seen} node scores, all within [0, 1]`)
      })
    },
  },
  {
    id: 'SDK-DISC-02',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) => {
        const all = await c.discover(SCENARIO_INTENTS.failover, { limit: 50 })
        if (all.nodes.length < 2) return fail(id, `the mesh lists ${all.nodes.length} node(s) for the limit scenario, needs 2`)
        const one = await c.discover(SCENARIO_INTENTS.failover, { limit: 1 })
        if (one.nodes.length > 1) return fail(id, `limit=1 returned ${one.nodes.length} nodes`)
        return pass(id, `limit=1 returned ${one.nodes.length} of ${all.nodes.length} nodes`)
      })
    },
  },
  {
    id: 'SDK-ERR-01',
    async run(t) {
      const id = this.id
      const seen: string[] = []
      const expectIicp = async (label: string, fn: () => Promise<unknown>): Promise<CheckResult | undefined> => {
        const r = await settle(fn)
        if (r.ok) return fail(id, `${label}: the call succeeded`)
        if (!isIicpError(r.error) || !(r.error instanceof IicpError)) return fail(id, `${label}: surfaced ${codeOf(r.error)}, not an IicpError`)
        seen.push(`${label}→${safeCode(r.error.code)}`)
        return undefined
      }
      const viaMesh = await withClient(t, {}, async (c) =>
        (await expectIicp('hung node', () => c.submit(SCENARIO_INTENTS.hang, PAYLOAD, { timeoutMs: 400 })))
        ?? (await expectIicp('reset socket', () => c.submit(SCENARIO_INTENTS.reset, PAYLOAD)))
        ?? (await expectIicp('HTML 500', () => c.submit(SCENARIO_INTENTS.html, PAYLOAD)))
        ?? (await expectIicp('bad argument', () => c.submit(CHAT_INTENT, PAYLOAD, { limit: 0 })))
        ?? (await expectIicp('bad messages', () => c.chat('not messages' as never))))
      if (viaMesh) return viaMesh
      const dead = await deadUrl()
      const noDirectory = await withClient(t, { directoryUrl: dead, timeoutMs: 2_000 }, async (c) =>
        expectIicp('refused directory', () => c.submit(CHAT_INTENT, PAYLOAD)))
      if (noDirectory) return noDirectory
      return pass(id, seen.join(', '))
    },
  },
  {
    id: 'SDK-ERR-02',
    async run() {
      const id = this.id
      for (const code of ['IICP-E004', 'IICP-E005', 'IICP-E008']) {
        if (new IicpError(code).retryable !== true) return fail(id, `IicpError ${code} is not retryable`)
        const parsed = errorFromResponse(503, JSON.stringify({ error: { code, message: 'transient' } }))
        if (parsed.code !== code || parsed.retryable !== true) return fail(id, `${code} parsed from a node answer is not a retryable IicpError`)
      }
      return pass(id, 'IICP-E004/E005/E008 are retryable, built or parsed')
    },
  },
  {
    id: 'SDK-NODE-01',
    async run(t, ctx) {
      const id = this.id
      const timers = new ManualTimers()
      const registersBefore = t.mesh.traffic.count('POST', '/api/v1/register')
      const beatsBefore = t.mesh.traffic.count('POST', '/api/v1/heartbeat')
      const node = t.sdk.createNode({
        directoryUrl: t.mesh.apiUrl, host: '127.0.0.1', port: 0, persistState: false, timers, region: 'conformance-check',
        capabilities: [{ intent: NODE_CHECK_INTENT, models: ['conformance-echo'] }], handler: (task) => chatOf(task),
      })
      try {
        await node.start()
        if (t.mesh.traffic.count('POST', '/api/v1/register') <= registersBefore || !node.isRegistered) return fail(id, 'start() did not register with the directory')
        const due = timers.nextDueIn()
        if (due === undefined || due > 35_000) return fail(id, `first heartbeat scheduled ${due === undefined ? 'never' : `${due} ms`} after start`)
        const beat = nextEvent(node, 'heartbeat', 10_000, ctx.signal)
        timers.advance(35_000)
        if (!(await beat)) return fail(id, 'no acknowledged heartbeat within 35 s of start()')
        if (t.mesh.traffic.count('POST', '/api/v1/heartbeat') <= beatsBefore) return fail(id, 'the directory saw no heartbeat')
        return pass(id, `registered, first heartbeat due ${due} ms after start and acknowledged`)
      } finally {
        await node.close()
      }
    },
  },
  {
    id: 'SDK-NODE-02',
    async run(t, ctx) {
      const id = this.id
      let seen: { task: TaskInput; ctx: TaskContext } | undefined
      const inner = { answer: 'single-level', nested: { ok: true } }
      const node = t.sdk.createNode({
        directoryUrl: null, host: '127.0.0.1', port: 0, persistState: false,
        capabilities: [{ intent: CHAT_INTENT, models: ['conformance-echo'] }],
        handler: (task, taskCtx) => {
          seen = { task, ctx: taskCtx }
          return inner
        },
      })
      try {
        await node.start()
        const taskId = randomUUID()
        const res = await ctx.http.send({
          method: 'POST', url: `${node.url ?? ''}/v1/task`, signal: ctx.signal,
          body: { task_id: taskId, intent: CHAT_INTENT, payload: PAYLOAD, constraints: { timeout_ms: 5_000 }, auth: { node_token: 'conformance-open' } },
        })
        if (!seen) return fail(id, `the handler was not called (HTTP ${res.status})`, 'assertion_failed', res.status)
        if (seen.task.taskId !== taskId || seen.task.intent !== CHAT_INTENT || !isDeepStrictEqual(seen.task.payload, PAYLOAD)) {
          return fail(id, 'the handler did not receive the request\'s task_id, intent and payload')
        }
        if (!(seen.ctx.signal instanceof AbortSignal) || typeof seen.ctx.timeoutMs !== 'number') return fail(id, 'the handler received no usable context')
        if (res.status !== 200) return fail(id, `the task answered HTTP ${res.status}`, 'unexpected_status', res.status)
        const result = (res.json as { result?: unknown } | undefined)?.result
        if (!isDeepStrictEqual(result, inner)) return fail(id, 'the response result is not exactly the handler\'s return value', 'assertion_failed', 200)
        return pass(id, 'handler got request and context; its value is the single-level result', 200)
      } finally {
        await node.close()
      }
    },
  },
  {
    id: 'PROXY-ERR-01',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) =>
        (await expectCode(id, 'intent nobody serves', () => c.submit(SCENARIO_INTENTS.nobody, PAYLOAD), 'IICP-E033'))
        ?? pass(id, 'zero candidates → IICP-E033'))
    },
  },
  {
    id: 'PROXY-ERR-02',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) =>
        (await expectCode(id, 'only failing candidates', () => c.submit(SCENARIO_INTENTS.exhaust, PAYLOAD), 'no_available_node'))
        ?? pass(id, 'candidates that all fail → no_available_node'))
    },
  },
  {
    id: 'PROXY-TIMEOUT-02',
    async run(t) {
      const id = this.id
      return withClient(t, {}, async (c) =>
        (await expectCode(id, 'every attempt hangs', () => c.submit(SCENARIO_INTENTS.hang, PAYLOAD, { attemptTimeoutMs: 150, timeoutMs: 5_000 }), 'timeout'))
        ?? pass(id, 'every attempt timed out → timeout'))
    },
  },
  {
    id: 'QOS-ADMIT-02',
    async run(t) {
      const id = this.id
      const busy = t.mesh.faults.capacity
      if (!busy) return fail(id, 'the mesh has no capacity_exceeded node')
      return withClient(t, { region: FAULT_REGION }, async (c, sleeps) => {
        const taskId = randomUUID()
        const r = await settle(() => c.submit(SCENARIO_INTENTS.capacity, PAYLOAD, { taskId }))
        if (!r.ok) return fail(id, `busy node then a healthy one: submit() failed with ${codeOf(r.error)}`)
        if (busy.requestsFor(taskId) !== 1 || r.value.nodeId !== t.mesh.nodeId) return fail(id, 'the busy node was not tried first, or was tried again')
        const waited = sleeps.filter((ms) => ms > 0)
        if (waited.length > 0) return fail(id, `backed off ${Math.max(...waited)} ms before switching away from a busy node`)
        return pass(id, 'capacity_exceeded → next node at once, no backoff')
      })
    },
  },
  {
    id: 'DIR-FED-05',
    async run(t) {
      const id = this.id
      const r = t.mesh.redirector
      return withClient(t, { directoryUrl: `${r.url}/api` }, async (c) => {
        const done = await settle(() => c.submit(CHAT_INTENT, PAYLOAD))
        if (!done.ok) {
          // Say whether plain discover copes, so the report points at the part that breaks.
          const legacy = await withClient(t, { directoryUrl: `${r.url}/api`, routeDiscovery: 'legacy' }, (l) => settle(() => l.submit(CHAT_INTENT, PAYLOAD)))
          return fail(id, `through a redirecting directory submit() failed with ${codeOf(done.error)}${legacy.ok ? ' (legacy discover mode follows it)' : ''}`)
        }
        const redirected = r.count('GET', '/api/v1/discover') + r.count('POST', '/api/v1/dispatch/ticket')
        if (redirected === 0) return fail(id, 'the client never asked the redirecting directory')
        if (done.value.nodeId !== t.mesh.nodeId) return fail(id, 'the task did not reach the node behind the redirect')
        return pass(id, `followed the 307 to the seed and the task ran (${redirected} redirected route lookup(s))`)
      })
    },
  },
  {
    id: 'DIR-FED-06',
    async run(t) {
      const id = this.id
      const loop = t.mesh.redirectLoop
      return withClient(t, { directoryUrl: `${loop.url}/api`, routeDiscovery: 'legacy' }, async (c) => {
        const before = loop.count('GET', '/api/v1/discover')
        const r = await settle(() => c.discover(CHAT_INTENT))
        const asked = loop.count('GET', '/api/v1/discover') - before
        if (r.ok) return fail(id, 'discover() succeeded against a redirect loop')
        if (!isIicpError(r.error)) return fail(id, `a redirect loop raised ${codeOf(r.error)}, not an IicpError`)
        if (asked !== 4) return fail(id, `asked ${asked} time(s) for one discover, expected the request plus 3 redirects`)
        return pass(id, `gave up after 3 redirects with IicpError ${safeCode(r.error.code)}`)
      })
    },
  },
]
