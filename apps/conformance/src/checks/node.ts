/**
 * Node checks against any provider node URL (wire.md §2; core §3, §7): the spec's adapter tests (cts §4
 * NODE-HEALTH-01..03, NODE-TASK-01..06 and -08, PROTO-URN-03) under their spec ids, plus runner-defined
 * checks for the single-level result, JSON error shapes and CORS. One probe task is sent and shared by the
 * envelope checks; payloads are fixed probe text, never echoed.
 */
import { randomUUID } from 'node:crypto'
import { TargetUnreachable } from '../target-http.js'
import type { TargetResponse } from '../target-http.js'
import { fail, pass, safeCode, skip } from './types.js'
import type { Check, CheckContext, CheckResult } from './types.js'

/** A provider node under check. */
export interface NodeTarget {
  /** Base URL the node serves `/v1/task` and `/iicp/health` under. */
  readonly url: string
  /** Token for nodes that require one (sent as `auth.node_token` and Bearer); never printed. */
  readonly nodeToken?: string | undefined
}

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PROBE_ORIGIN = 'https://conformance.iicp.invalid'
const UNSERVED_INTENT = 'urn:iicp:intent:x.conformance:unserved:v1'
const STACK_OR_PATH = [/\bat \S+ \(.*:\d+:\d+\)/, /\bat .*:\d+:\d+/, /\/(?:home|Users|var|usr|opt|tmp|root|srv)\//, /node_modules/, /Traceback \(most recent/, /[A-Za-z]:\\/]

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function memo<T>(ctx: CheckContext, key: string, make: () => Promise<T>): Promise<T> {
  let p = ctx.memo.get(key) as Promise<T> | undefined
  if (!p) {
    p = make()
    ctx.memo.set(key, p)
  }
  return p
}

type Answer = TargetResponse | 'unreachable'

async function send(ctx: CheckContext, req: Parameters<CheckContext['http']['send']>[0]): Promise<Answer> {
  try {
    return await ctx.http.send({ ...req, signal: ctx.signal })
  } catch (err) {
    if (err instanceof TargetUnreachable) return 'unreachable'
    throw err
  }
}

function health(t: NodeTarget, ctx: CheckContext): Promise<Answer> {
  return memo(ctx, 'node:health', () => send(ctx, { method: 'GET', url: `${t.url}/iicp/health` }))
}

const WRONG_TOKEN = 'iicp-conformance-wrong-token'

function taskBody(intent: string, token: string | undefined): Record<string, unknown> {
  return {
    task_id: randomUUID(),
    intent,
    payload: { messages: [{ role: 'user', content: 'iicp conformance probe' }] },
    constraints: { timeout_ms: 10_000 },
    auth: { node_token: token ?? 'iicp-conformance-probe' },
  }
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` }
}

interface Probe {
  readonly body: Record<string, unknown>
  readonly answer: Answer
}

/** The one probe task: chat if the node lists it (or lists nothing), else its first intent. */
function probeTask(t: NodeTarget, ctx: CheckContext): Promise<Probe> {
  return memo(ctx, 'node:task', async () => {
    const h = await health(t, ctx)
    const intents = h !== 'unreachable' && isRecord(h.json) && Array.isArray(h.json.intents) ? h.json.intents.filter((i): i is string => typeof i === 'string') : []
    const intent = intents.includes(CHAT) ? CHAT : (intents[0] ?? CHAT)
    const body = taskBody(intent, t.nodeToken)
    const answer = await send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body, headers: { origin: PROBE_ORIGIN, ...authHeaders(t.nodeToken) } })
    return { body, answer }
  })
}

/** A 200 JSON-object task answer, or the verdict that stops an envelope check before it starts. */
type Gated = { readonly ok: true; readonly res: TargetResponse; readonly body: Record<string, unknown> } | { readonly ok: false; readonly result: CheckResult }

function taskGate(id: string, t: NodeTarget, a: Answer): Gated {
  if (a === 'unreachable') return { ok: false, result: fail(id, 'the node did not answer the probe task', 'request_failed', null) }
  if (a.status === 401 && t.nodeToken === undefined) {
    return { ok: false, result: skip(id, 'the node requires a token; set IICP_CONFORMANCE_NODE_TOKEN to check tasks') }
  }
  if (a.status !== 200) return { ok: false, result: fail(id, `probe task answered HTTP ${a.status}, expected 200`, 'unexpected_status', a.status) }
  if (!isRecord(a.json)) return { ok: false, result: fail(id, 'probe task answer is not a JSON object', 'assertion_failed', a.status) }
  return { ok: true, res: a, body: a.json }
}

function jsonErrorProblem(a: TargetResponse): string | undefined {
  if (!(a.headers['content-type'] ?? '').toLowerCase().includes('application/json')) return 'error is not served as application/json'
  if (!isRecord(a.json) || !isRecord(a.json.error)) return 'body is not {"error":{...}}'
  if (typeof a.json.error.code !== 'string' || a.json.error.code.length === 0) return 'error.code is missing'
  if (typeof a.json.error.message !== 'string') return 'error.message is missing'
  return undefined
}

function errorCode(a: TargetResponse): unknown {
  return isRecord(a.json) && isRecord(a.json.error) ? a.json.error.code : undefined
}

function errorCase(id: string, a: Answer, okStatus: (s: number) => boolean, expected: string): CheckResult {
  if (a === 'unreachable') return fail(id, 'the node did not answer', 'request_failed', null)
  if (!okStatus(a.status)) return fail(id, `expected ${expected}, got HTTP ${a.status}`, 'unexpected_status', a.status)
  const problem = jsonErrorProblem(a)
  if (problem) return fail(id, `HTTP ${a.status} but ${problem}`, 'assertion_failed', a.status)
  return pass(id, `HTTP ${a.status} with JSON error ${safeCode(errorCode(a))}`, a.status)
}

const is4xx = (s: number): boolean => s >= 400 && s < 500
// An envelope that breaks the task schema is invalid input: core §7 gives `validation_error` HTTP 422, and 400 is
// the plain bad-request status, a client error the retry rules treat alike (sem §6.1). Any other 4xx (a 404 from
// something that is not a node, a 401 before validation) does not show the envelope was checked.
const isInvalidInput = (s: number): boolean => s === 400 || s === 422

function malformed(t: NodeTarget, ctx: CheckContext): Promise<Answer> {
  return memo(ctx, 'node:malformed', () => send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body: '{"task_id": ', headers: authHeaders(t.nodeToken) }))
}

function badEnvelopes(t: NodeTarget, ctx: CheckContext): Promise<Answer[]> {
  return memo(ctx, 'node:bad-envelopes', async () => {
    const badIntent = { ...taskBody(CHAT, t.nodeToken), intent: 'not-an-intent-urn' }
    const { task_id: _omit, ...noTaskId } = taskBody(CHAT, t.nodeToken)
    return [
      await send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body: badIntent, headers: authHeaders(t.nodeToken) }),
      await send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body: noTaskId, headers: authHeaders(t.nodeToken) }),
    ]
  })
}

function unservedIntent(t: NodeTarget, ctx: CheckContext): Promise<Answer> {
  return memo(ctx, 'node:unserved', () => send(ctx, {
    method: 'POST', url: `${t.url}/v1/task`, body: taskBody(UNSERVED_INTENT, t.nodeToken), headers: authHeaders(t.nodeToken),
  }))
}

function wrongToken(t: NodeTarget, ctx: CheckContext): Promise<Answer> {
  return memo(ctx, 'node:wrong-token', async () => {
    const probe = await probeTask(t, ctx)
    const intent = typeof probe.body.intent === 'string' ? probe.body.intent : CHAT
    return send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body: taskBody(intent, WRONG_TOKEN), headers: authHeaders(WRONG_TOKEN) })
  })
}

/** Every answer collected so far by the shared probes (for checks over all responses). */
async function allAnswers(t: NodeTarget, ctx: CheckContext): Promise<TargetResponse[]> {
  const answers = [
    await health(t, ctx), (await probeTask(t, ctx)).answer, await malformed(t, ctx), ...(await badEnvelopes(t, ctx)),
    await unservedIntent(t, ctx), await unknownRoute(t, ctx),
  ]
  return answers.filter((a): a is TargetResponse => a !== 'unreachable')
}

function unknownRoute(t: NodeTarget, ctx: CheckContext): Promise<Answer> {
  return memo(ctx, 'node:404', () => send(ctx, { method: 'GET', url: `${t.url}/iicp-conformance/no-such-route` }))
}

/** Checks of any node URL, one per node-suite requirement. */
export const NODE_CHECKS: readonly Check<NodeTarget>[] = [
  {
    id: 'NODE-HEALTH-01',
    async run(t, ctx) {
      const id = this.id
      const h = await health(t, ctx)
      if (h === 'unreachable') return fail(id, 'GET /iicp/health did not answer', 'request_failed', null)
      if (h.status !== 200) return fail(id, `GET /iicp/health answered HTTP ${h.status}`, 'unexpected_status', h.status)
      if (!isRecord(h.json)) return fail(id, 'health body is not a JSON object', 'assertion_failed', h.status)
      if (h.json.status !== 'ok' && h.json.status !== 'degraded') return fail(id, 'status is neither ok nor degraded', 'assertion_failed', 200)
      return pass(id, `HTTP 200, status ${h.json.status}`, 200)
    },
  },
  {
    id: 'NODE-HEALTH-02',
    async run(t, ctx) {
      const id = this.id
      const h = await health(t, ctx)
      if (h === 'unreachable' || h.status !== 200 || !isRecord(h.json)) return fail(id, 'no JSON health body to inspect', 'request_failed', h === 'unreachable' ? null : h.status)
      if (typeof h.json.load !== 'number' || typeof h.json.active_jobs !== 'number') return fail(id, 'load and active_jobs must be numbers', 'assertion_failed', 200)
      return pass(id, 'numeric load and active_jobs', 200)
    },
  },
  {
    id: 'NODE-HEALTH-03',
    async run(t, ctx) {
      const id = this.id
      const h = await health(t, ctx)
      if (h === 'unreachable' || !isRecord(h.json)) return fail(id, 'no JSON health body to inspect', 'request_failed', h === 'unreachable' ? null : h.status)
      if (typeof h.json.node_id !== 'string' || h.json.node_id.length === 0) return fail(id, 'health does not name the node_id', 'assertion_failed', h.status)
      const answers = (await allAnswers(t, ctx)).filter((a) => a.text.length > 0)
      const plain = answers.find((a) => !(a.headers['content-type'] ?? '').toLowerCase().includes('application/json'))
      if (plain) return fail(id, `an HTTP ${plain.status} answer is not served as application/json`, 'assertion_failed', plain.status)
      return pass(id, `node_id named; ${answers.length} answers all application/json`)
    },
  },
  {
    id: 'NODE-HEALTH-04',
    async run(t, ctx) {
      const id = this.id
      const h = await health(t, ctx)
      if (h === 'unreachable' || h.status !== 200 || !isRecord(h.json)) return fail(id, 'no JSON health body to inspect', 'request_failed', h === 'unreachable' ? null : h.status)
      const models = h.json.models
      if (!Array.isArray(models) || !models.every((m) => typeof m === 'string')) return fail(id, 'models[] is missing', 'assertion_failed', 200)
      return pass(id, `${models.length} model(s) listed`, 200)
    },
  },
  {
    id: 'NODE-TASK-01',
    async run(t, ctx) {
      const id = this.id
      const { answer } = await probeTask(t, ctx)
      if (answer === 'unreachable') return fail(id, 'the node did not answer the probe task', 'request_failed', null)
      if (answer.status === 401 && t.nodeToken === undefined) return skip(id, 'the node requires a token; set IICP_CONFORMANCE_NODE_TOKEN to check tasks')
      if (answer.status !== 200 && answer.status !== 502) return fail(id, `probe task answered HTTP ${answer.status}, expected 200 or 502`, 'unexpected_status', answer.status)
      if (!isRecord(answer.json)) return fail(id, `HTTP ${answer.status} without a structured JSON body`, 'assertion_failed', answer.status)
      return pass(id, `HTTP ${answer.status} with a structured JSON body`, answer.status)
    },
  },
  {
    id: 'NODE-TASK-02',
    async run(t, ctx) {
      const id = this.id
      const { body, answer } = await probeTask(t, ctx)
      const gate = taskGate(id, t, answer)
      if (!gate.ok) return gate.result
      return gate.body.task_id === body.task_id ? pass(id, 'task_id echoed', 200) : fail(id, 'task_id is not echoed', 'assertion_failed', 200)
    },
  },
  {
    id: 'NODE-TASK-03',
    async run(t, ctx) {
      const id = this.id
      const gate = taskGate(id, t, (await probeTask(t, ctx)).answer)
      if (!gate.ok) return gate.result
      const status = gate.body.status
      if (status !== 'success' && status !== 'error' && status !== 'timeout') return fail(id, `status is ${safeCode(status)}, not success/error/timeout`, 'assertion_failed', 200)
      return pass(id, `status ${status}`, 200)
    },
  },
  {
    id: 'NODE-TASK-04',
    async run(t, ctx) {
      const id = this.id
      const gate = taskGate(id, t, (await probeTask(t, ctx)).answer)
      if (!gate.ok) return gate.result
      const latency = isRecord(gate.body.metrics) ? gate.body.metrics.latency_ms : undefined
      if (typeof latency !== 'number' || !(latency >= 0)) return fail(id, 'metrics.latency_ms is missing or negative', 'assertion_failed', 200)
      return pass(id, 'metrics.latency_ms present', 200)
    },
  },
  {
    id: 'NODE-TASK-05',
    async run(t, ctx) {
      const id = this.id
      const a = await wrongToken(t, ctx)
      if (a === 'unreachable') return fail(id, 'the node did not answer', 'request_failed', null)
      if (a.status === 200) return skip(id, 'the node accepts any caller (open mode, wire.md §9.18), so token checks do not apply')
      if (a.status !== 401) return fail(id, `a wrong token got HTTP ${a.status}, expected 401`, 'unexpected_status', a.status)
      const code = errorCode(a)
      return code === 'unauthorized' ? pass(id, 'HTTP 401 unauthorized for a wrong token', 401) : fail(id, `HTTP 401 with code ${safeCode(code)}, expected unauthorized`, 'assertion_failed', 401)
    },
  },
  {
    id: 'NODE-TASK-06',
    async run(t, ctx) {
      const id = this.id
      const { body, answer } = await probeTask(t, ctx)
      const gate = taskGate(id, t, answer)
      if (!gate.ok) return gate.result
      const again = await send(ctx, { method: 'POST', url: `${t.url}/v1/task`, body, headers: authHeaders(t.nodeToken) })
      if (again === 'unreachable') return fail(id, 'the node did not answer the repeated task', 'request_failed', null)
      if (again.status !== 409) return fail(id, `repeated task_id answered HTTP ${again.status}, expected 409`, 'unexpected_status', again.status)
      const code = errorCode(again)
      return code === 'conflict' ? pass(id, 'HTTP 409 conflict for the repeated task_id', 409) : fail(id, `HTTP 409 with code ${safeCode(code)}, expected conflict`, 'assertion_failed', 409)
    },
  },
  {
    id: 'NODE-TASK-08',
    async run(t, ctx) {
      const id = this.id
      const answers = await allAnswers(t, ctx)
      if (answers.length === 0) return fail(id, 'no answers to inspect', 'request_failed', null)
      for (const a of answers) {
        if (STACK_OR_PATH.some((re) => re.test(a.text))) return fail(id, `an HTTP ${a.status} body exposes a stack trace or file path`, 'assertion_failed', a.status)
      }
      return pass(id, `${answers.length} response bodies carry no stack trace or path`)
    },
  },
  {
    id: 'NODE-TASK-SHAPE-01',
    async run(t, ctx) {
      const id = this.id
      const gate = taskGate(id, t, (await probeTask(t, ctx)).answer)
      if (!gate.ok) return gate.result
      const result = gate.body.result
      if (result === undefined || result === null) return fail(id, 'a successful task has no result', 'assertion_failed', 200)
      if (isRecord(result) && ('result' in result || ('task_id' in result && 'status' in result))) {
        return fail(id, 'result holds another task envelope (double-wrapped)', 'assertion_failed', 200)
      }
      return pass(id, 'result is the inner value, wrapped once', 200)
    },
  },
  {
    id: 'NODE-TASK-SHAPE-02',
    async run(t, ctx) {
      const id = this.id
      const gate = taskGate(id, t, (await probeTask(t, ctx)).answer)
      if (!gate.ok) return gate.result
      const model = gate.body.model_used
      return typeof model === 'string' && model.length > 0 ? pass(id, 'model_used is named', 200) : fail(id, 'model_used is missing', 'assertion_failed', 200)
    },
  },
  {
    id: 'PROTO-URN-03',
    async run(t, ctx) {
      const id = this.id
      const a = await unservedIntent(t, ctx)
      if (a === 'unreachable') return fail(id, 'the node did not answer', 'request_failed', null)
      if (a.status === 401 && t.nodeToken === undefined) return skip(id, 'the node requires a token; set IICP_CONFORMANCE_NODE_TOKEN to check tasks')
      const code = errorCode(a)
      if (code !== 'unknown_intent') return fail(id, `an unserved intent got HTTP ${a.status} with code ${safeCode(code)}, expected unknown_intent`, 'assertion_failed', a.status)
      return pass(id, `HTTP ${a.status} unknown_intent`, a.status)
    },
  },
  {
    id: 'NODE-ERR-01',
    async run(t, ctx) {
      return errorCase(this.id, await malformed(t, ctx), is4xx, 'a 4xx error')
    },
  },
  {
    id: 'NODE-ERR-02',
    async run(t, ctx) {
      const id = this.id
      const [badIntent, noTaskId] = await badEnvelopes(t, ctx)
      const a = errorCase(id, badIntent ?? 'unreachable', isInvalidInput, 'HTTP 400 or 422 for a malformed intent')
      if (a.status !== 'pass') return a
      const b = errorCase(id, noTaskId ?? 'unreachable', isInvalidInput, 'HTTP 400 or 422 for a missing task_id')
      if (b.status !== 'pass') return b
      return pass(id, `malformed intent and missing task_id both refused with JSON errors (HTTP ${a.observedStatus ?? '?'}, ${b.observedStatus ?? '?'})`)
    },
  },
  {
    id: 'NODE-ERR-03',
    async run(t, ctx) {
      return errorCase(this.id, await unknownRoute(t, ctx), (s) => s === 404, 'HTTP 404')
    },
  },
  {
    id: 'NODE-CORS-01',
    async run(t, ctx) {
      const id = this.id
      const a = await send(ctx, {
        method: 'OPTIONS', url: `${t.url}/v1/task`,
        headers: { origin: PROBE_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization, traceparent' },
      })
      if (a === 'unreachable') return fail(id, 'the preflight got no answer', 'request_failed', null)
      if (a.status !== 200 && a.status !== 204) return fail(id, `preflight answered HTTP ${a.status}`, 'unexpected_status', a.status)
      const allowOrigin = a.headers['access-control-allow-origin']
      if (allowOrigin !== '*' && allowOrigin !== PROBE_ORIGIN) return fail(id, 'preflight does not allow the origin', 'assertion_failed', a.status)
      const methods = (a.headers['access-control-allow-methods'] ?? '').toUpperCase()
      if (!methods.includes('POST') && methods !== '*') return fail(id, 'preflight does not allow POST', 'assertion_failed', a.status)
      return pass(id, `HTTP ${a.status}, origin and POST allowed`, a.status)
    },
  },
  {
    id: 'NODE-CORS-02',
    async run(t, ctx) {
      const id = this.id
      const { answer } = await probeTask(t, ctx)
      if (answer === 'unreachable') return fail(id, 'the node did not answer the probe task', 'request_failed', null)
      const allowOrigin = answer.headers['access-control-allow-origin']
      if (allowOrigin !== '*' && allowOrigin !== PROBE_ORIGIN) return fail(id, 'task response lacks Access-Control-Allow-Origin', 'assertion_failed', answer.status)
      return pass(id, 'task response allows the origin', answer.status)
    },
  },
]
