/**
 * The requirements the runner checks: an id, the spec section it comes from, one sentence and its level.
 * The README's SDK-01..06 and the spec's SDK-01..06 mean different things (wire.md §5.4), so the spec's
 * carry a `SPEC-` prefix. Directory requirements are the cases of the spec's three profile manifests.
 * test/requirements.test.ts fails on an id without a check and on a check without an id.
 */
import { allProfiles } from './profile-manifest.js'
import type { ProfileCase } from './profile-manifest.js'

/** Which target a requirement is checked against. */
export type Suite = 'sdk' | 'directory' | 'node'

/** RFC 2119 level: only a failed MUST makes the run fail. */
export type Level = 'MUST' | 'SHOULD'

/** One checked requirement. */
export interface Requirement {
  readonly id: string
  readonly suite: Suite
  /** Where the spec (or the README) states it. */
  readonly ref: string
  /** The requirement in one sentence. */
  readonly text: string
  readonly level: Level
}

const sdk = (id: string, ref: string, text: string, level: Level = 'MUST'): Requirement => ({ id, suite: 'sdk', ref, text, level })
const node = (id: string, ref: string, text: string, level: Level = 'MUST'): Requirement => ({ id, suite: 'node', ref, text, level })

/** The README's conformance table (its own SDK-0x meanings, wire.md §5.4). */
export const README_SDK_REQUIREMENTS: readonly Requirement[] = [
  sdk('SDK-01', 'README table; cts PROXY-ROUTE-01/02', 'submit() discovers nodes, selects the directory\'s first eligible node and submits the task to it.'),
  sdk('SDK-02', 'README table; core §3.1; cts PROTO-MSG-01', 'Every logical task gets a fresh UUID v4 task_id, and that id is the one sent on the wire.'),
  sdk('SDK-03', 'README table; sem §1.1, §1.5', 'Malformed intent URNs are refused locally with an IicpError before any request; valid custom x. URNs are accepted.'),
  sdk('SDK-04', 'README table; cts §10.1 SDK-04', 'timeoutMs is capped at 120000: 120000 is accepted; 120001 is rejected with invalid_config at construction and with validation_error per call, before any request.'),
  sdk('SDK-05', 'README table; sem §6.1; cts PROXY-ROUTE-03', 'A 503 fails over to the next node, and a 429 with Retry-After is retried after waiting at least Retry-After.'),
  sdk('SDK-06', 'README table; cts TRACE-01..04', 'A W3C traceparent reaches the node: the caller\'s trace id is continued, and a fresh valid one is sent otherwise.'),
]

/** The spec's SDK tests (wire.md §5.1–5.2; cts §10). */
export const SPEC_SDK_REQUIREMENTS: readonly Requirement[] = [
  sdk('SPEC-SDK-01', 'cts §10.1 SDK-01; sem §6.1', 'On transient errors submit() makes its 3 attempts (sem §6.1 reading of "retries 3 times") and then rejects with an IicpError.'),
  sdk('SPEC-SDK-02', 'cts §10.1 SDK-02; cts PROXY-OAI-02', 'chat() returns an OpenAI Chat Completions object with choices[0].message.content.'),
  sdk('SPEC-SDK-03', 'cts §10.1 SDK-03', 'The client validates the intent URN before sending anything and rejects invalid ones.'),
  sdk('SPEC-SDK-04', 'cts §10.1 SDK-04', 'timeout_ms above 120000 is rejected at construction with IicpError code invalid_config.'),
  sdk('SPEC-SDK-05', 'cts §10.1 SDK-05; core §6', 'tls_verify: false is unavailable: passing it raises an IicpError.'),
  sdk('SPEC-SDK-06', 'cts §10.1 SDK-06; frm §4.3', 'The node_token never appears in log output, error messages or config views when a task fails.'),
  sdk('SDK-DISC-01', 'cts §10.2 SDK-DISC-01', 'discover() returns a node list whose nodes[].score are all within [0.0, 1.0].'),
  sdk('SDK-DISC-02', 'cts §10.2 SDK-DISC-02', 'discover() with limit=N returns at most N nodes.'),
  sdk('SDK-ERR-01', 'cts §10.3 SDK-ERR-01', 'Every failure (refused, reset, hung, HTML or unreachable peer) surfaces as an IicpError, never a raw exception.'),
  sdk('SDK-ERR-02', 'cts §10.3 SDK-ERR-02', 'IicpError.retryable is true for IICP-E004, IICP-E005 and IICP-E008, also when parsed from a node\'s answer.'),
  sdk('SDK-NODE-01', 'cts §10.4 SDK-NODE-01; NODE-REG-02', 'node.start() registers with the directory and sends its first heartbeat within 35 s.'),
  sdk('SDK-NODE-02', 'cts §10.4 SDK-NODE-02; core §3.2', 'The task handler receives the request and a context, and its return value is the response\'s single-level result.'),
]

/** The spec's client (proxy) routing tests that an SDK consumer meets too (cts §5; sem §2.2). */
export const CLIENT_REQUIREMENTS: readonly Requirement[] = [
  sdk('PROXY-ERR-01', 'cts §5.4 PROXY-ERR-01; core §7', 'When the directory has no candidate for the intent, the error code is IICP-E033.'),
  sdk('PROXY-ERR-02', 'cts §5.4 PROXY-ERR-02; core §7', 'When candidates exist but every attempt fails, the error code is no_available_node, not IICP-E033.'),
  sdk('PROXY-TIMEOUT-02', 'cts §5.2 PROXY-TIMEOUT-02', 'When every attempt times out, the error code is timeout.'),
  // Federation tests carry the spec's @federated mark, outside the Phase 1 MUST set (cts §2), hence SHOULD here.
  sdk('DIR-FED-05', 'fed §6.1–6.2; cts DIR-FED-05 (@federated)', 'A directory 307 (seed redirect) is followed transparently, in the default route mode, and the task still runs.', 'SHOULD'),
  sdk('DIR-FED-06', 'fed §6.1; cts DIR-FED-06 (@federated)', 'A client stops after 3 consecutive directory redirects and fails with an IicpError.', 'SHOULD'),
  sdk('QOS-ADMIT-02', 'sem §2.2; cts QOS-ADMIT-02', 'A 429 capacity_exceeded switches to the next node at once, with no backoff.'),
]

/** Checks against any node URL: the spec's adapter tests under their ids (cts §4, §6.2), then runner-defined ones. */
export const NODE_REQUIREMENTS: readonly Requirement[] = [
  node('NODE-HEALTH-01', 'cts §4.2 NODE-HEALTH-01; core §2.2', 'GET /iicp/health answers 200 with status ok or degraded.'),
  node('NODE-HEALTH-02', 'cts §4.2 NODE-HEALTH-02', 'The health body carries numeric load and active_jobs.'),
  node('NODE-HEALTH-03', 'cts §4.2 NODE-HEALTH-03; PROTO-MSG-05', 'Health names the node_id, and every health, task and error answer is served as application/json.'),
  node('NODE-HEALTH-04', 'cts §3.3f DIR-TRUST-01 (runner-defined)', 'The health body lists the served models[] for the trust audit.', 'SHOULD'),
  node('NODE-TASK-01', 'cts §4.1 NODE-TASK-01', 'A valid task is answered 200 (or 502) with a structured JSON body, never a raw exception.'),
  node('NODE-TASK-02', 'cts §4.1 NODE-TASK-02; PROTO-MSG-04', 'The response task_id matches the request.'),
  node('NODE-TASK-03', 'cts §4.1 NODE-TASK-03', 'The response status is success, error or timeout.'),
  node('NODE-TASK-04', 'cts §4.1 NODE-TASK-04', 'The response carries a numeric metrics.latency_ms of at least 0.'),
  node('NODE-TASK-05', 'cts §4.1 NODE-TASK-05; SEC-AUTH-02', 'A wrong token gets 401 unauthorized (a node that accepts any caller is reported as skipped).'),
  node('NODE-TASK-06', 'cts §4.1 NODE-TASK-06; core §3.1 TASK-2', 'A repeated task_id gets 409 conflict.'),
  node('NODE-TASK-08', 'cts §4.1 NODE-TASK-07/08; SEC-LEAK-01/02', 'No answer body exposes a stack trace or an internal file path.'),
  node('NODE-TASK-SHAPE-01', 'core §3.2; official-sdks §8.1 (runner-defined)', 'The result is single-level: the node never wraps a task envelope inside result.'),
  node('NODE-TASK-SHAPE-02', 'core §3.2 (runner-defined)', 'A successful response names model_used.', 'SHOULD'),
  node('PROTO-URN-03', 'cts §6.2 PROTO-URN-03', 'A task for an intent the node does not serve gets error.code unknown_intent.'),
  node('NODE-ERR-01', 'core §7 (runner-defined)', 'A malformed JSON body gets a 4xx JSON error {"error":{"code","message"}}.'),
  node('NODE-ERR-02', 'core §3.1, §7 (runner-defined)', 'A task with a malformed intent or no task_id gets HTTP 400 or 422 (validation_error) with a JSON error.'),
  node('NODE-ERR-03', 'core §7 (runner-defined)', 'An unknown path gets 404 with a JSON error body, not HTML.'),
  node('NODE-CORS-01', 'core §3.1; wire.md §2.1 (runner-defined)', 'OPTIONS /v1/task preflight from any origin is allowed for POST.', 'SHOULD'),
  node('NODE-CORS-02', 'core §3.1; wire.md §2.1 (runner-defined)', 'A task response to a cross-origin request carries Access-Control-Allow-Origin.', 'SHOULD'),
]

function describeCase(c: ProfileCase): string {
  const shape = c.assertion === 'none' ? '' : `, body passes ${c.assertion}`
  return `${c.method} ${c.path.split('?')[0] ?? c.path} answers ${c.status}${shape}.`
}

/** One requirement per case of the spec's directory profiles. */
export const DIRECTORY_REQUIREMENTS: readonly Requirement[] = allProfiles().flatMap((m) =>
  m.tests.map((c): Requirement => ({
    id: c.id, suite: 'directory', ref: `${m.profile} (cts ${m.suiteVersion})`, text: describeCase(c), level: 'MUST',
  })),
)

/** Every requirement, in report order. */
export const REQUIREMENTS: readonly Requirement[] = Object.freeze([
  ...README_SDK_REQUIREMENTS, ...SPEC_SDK_REQUIREMENTS, ...CLIENT_REQUIREMENTS, ...DIRECTORY_REQUIREMENTS, ...NODE_REQUIREMENTS,
])

const BY_ID = new Map(REQUIREMENTS.map((r) => [r.id, r]))

/** The requirement with this id, if any. */
export function requirement(id: string): Requirement | undefined {
  return BY_ID.get(id)
}
