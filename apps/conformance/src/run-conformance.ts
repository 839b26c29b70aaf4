/**
 * runConformance: pick the targets (the given directory/node URLs, or a local mesh started here), run every
 * selected check once with its own time limit, and report each requirement's verdict. The run's verdict is
 * `conformant` only when every selected MUST requirement passed: a failed MUST makes it `not_conformant`, and a
 * skipped MUST (a check that could not run) `incomplete`, because nothing was shown either way.
 */
import { performance } from 'node:perf_hooks'
import { IicpError, isIicpError } from '@iicp/protocol'
import { DIRECTORY_CHECKS } from './checks/directory.js'
import type { DirectoryTarget } from './checks/directory.js'
import { NODE_CHECKS } from './checks/node.js'
import type { NodeTarget } from './checks/node.js'
import { SDK_CHECKS } from './checks/sdk.js'
import type { SdkTarget } from './checks/sdk.js'
import { fail } from './checks/types.js'
import type { Check, CheckContext, CheckResult } from './checks/types.js'
import { EXPECTED_FAILURES } from './expected-failures.js'
import { startLocalMesh } from './local-mesh.js'
import type { LocalMesh } from './local-mesh.js'
import { REQUIREMENTS, requirement } from './requirements.js'
import type { Level, Suite } from './requirements.js'
import { THIS_SDK } from './sdk-under-test.js'
import type { SdkUnderTest } from './sdk-under-test.js'
import { TargetHttp } from './target-http.js'
import { checkTarget, directoryOriginOf } from './target-policy.js'

/** What `runConformance` accepts. */
export interface ConformanceOptions {
  /** Directory to check (origin or `/api` base). With `node`, replaces the local mesh. */
  directory?: string
  /** Provider node to check. With `directory`, replaces the local mesh. */
  node?: string
  /** Allow non-loopback targets. @default false */
  allowRemote?: boolean
  /** Token for a node that requires one; never printed. */
  nodeToken?: string
  /** The SDK the local-mesh checks exercise. @default this repository's client and node */
  sdk?: SdkUnderTest
  /** Only these requirement ids (exact). @default every id of the selected suites */
  only?: readonly string[]
  /** Per-check time limit. @default 30000 */
  checkTimeoutMs?: number
  /** Per-request time limit for target HTTP. @default 5000 */
  requestTimeoutMs?: number
  signal?: AbortSignal
}

/** One requirement's verdict, with the requirement itself. */
export interface CheckOutcome extends CheckResult {
  readonly suite: Suite
  readonly level: Level
  readonly text: string
  readonly ref: string
  readonly durationMs: number
  /** Set when the id is a listed known gap (src/expected-failures.ts). */
  readonly expectedFailure?: string
}

/**
 * The run's verdict: `conformant` (every selected MUST passed), `not_conformant` (a MUST failed) or `incomplete`
 * (no MUST failed but at least one was skipped). SHOULD results never change it.
 */
export type Verdict = 'conformant' | 'not_conformant' | 'incomplete'

/** What a run reports. */
export interface ConformanceReport {
  /** `local-mesh` when no target was given. */
  readonly mode: 'local-mesh' | 'targets'
  readonly sdk: string | undefined
  readonly startedAt: string
  readonly finishedAt: string
  readonly results: readonly CheckOutcome[]
  readonly summary: {
    readonly passed: number; readonly failed: number; readonly skipped: number; readonly mustFailed: number; readonly mustSkipped: number
  }
  readonly verdict: Verdict
  /** True only when the verdict is `conformant`: no MUST requirement failed or was skipped. */
  readonly ok: boolean
}

interface Plan {
  readonly suite: Suite
  readonly checks: readonly Check<unknown>[]
  readonly target: unknown
}

async function runOne(check: Check<unknown>, target: unknown, base: Omit<CheckContext, 'signal'>, outer: AbortSignal | undefined, limitMs: number): Promise<CheckResult> {
  const ctl = new AbortController()
  const signal = outer ? AbortSignal.any([outer, ctl.signal]) : ctl.signal
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      ctl.abort(new IicpError('timeout', 'check time limit reached'))
      resolve(fail(check.id, `the check did not finish within ${limitMs} ms`, 'request_failed', null))
    }, limitMs)
  })
  try {
    return await Promise.race([
      check.run(target, { ...base, signal }).catch((err: unknown) => {
        const what = isIicpError(err) ? `IicpError ${err.code}` : err instanceof Error ? `a raw ${err.name}` : 'a non-error value'
        return fail(check.id, `the check raised ${what}`)
      }),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
    ctl.abort()
  }
}

/**
 * Run the conformance checks; see {@link ConformanceOptions}. Throws IicpError `invalid_config` for bad targets
 * or an `only` list that selects nothing, and `service_unavailable` when the local mesh cannot start.
 */
export async function runConformance(options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const allowRemote = options.allowRemote === true
  const dirTarget = options.directory === undefined ? undefined : checkTarget('--directory', options.directory, allowRemote)
  const nodeTarget = options.node === undefined ? undefined : checkTarget('--node', options.node, allowRemote)
  if (options.only) {
    const unknown = options.only.filter((id) => !requirement(id))
    if (unknown.length > 0) throw new IicpError('invalid_config', `--only names unknown requirement ids: ${unknown.slice(0, 5).join(', ')}`)
  }
  const sdk = options.sdk ?? THIS_SDK
  const http = new TargetHttp(options.requestTimeoutMs ?? 5_000)
  const startedAt = new Date().toISOString()
  let mesh: LocalMesh | undefined
  try {
    const plans: Plan[] = []
    if (dirTarget === undefined && nodeTarget === undefined) {
      mesh = await startLocalMesh()
      // SDK checks first: the lifecycle profile registers a placeholder node the SDK checks should not meet.
      plans.push({ suite: 'sdk', checks: SDK_CHECKS as readonly Check<unknown>[], target: { sdk, mesh } satisfies SdkTarget })
      // The node suite runs against the mesh's token-mode node with its token, so the token checks run too.
      plans.push({ suite: 'node', checks: NODE_CHECKS as readonly Check<unknown>[], target: { url: mesh.tokenNode.url, nodeToken: mesh.tokenNode.token } satisfies NodeTarget })
      plans.push({ suite: 'directory', checks: DIRECTORY_CHECKS as readonly Check<unknown>[], target: { origin: mesh.origin, loopback: true } satisfies DirectoryTarget })
    } else {
      if (nodeTarget) {
        plans.push({ suite: 'node', checks: NODE_CHECKS as readonly Check<unknown>[], target: { url: nodeTarget.url, nodeToken: options.nodeToken } satisfies NodeTarget })
      }
      if (dirTarget) {
        plans.push({
          suite: 'directory', checks: DIRECTORY_CHECKS as readonly Check<unknown>[],
          target: { origin: directoryOriginOf(dirTarget), loopback: dirTarget.loopback } satisfies DirectoryTarget,
        })
      }
    }
    const only = options.only ? new Set(options.only) : undefined
    if (only && !plans.some((p) => p.checks.some((c) => only.has(c.id)))) {
      throw new IicpError('invalid_config', '--only selects no check for the chosen targets')
    }
    const base = { http, memo: new Map<string, Promise<unknown>>() }
    const byId = new Map<string, CheckOutcome>()
    for (const plan of plans) {
      for (const check of plan.checks) {
        if (only && !only.has(check.id)) continue
        options.signal?.throwIfAborted()
        const req = requirement(check.id)
        if (!req) throw new IicpError('invalid_config', `check ${check.id} has no requirement`)
        const t0 = performance.now()
        const result = await runOne(check, plan.target, base, options.signal, options.checkTimeoutMs ?? 30_000)
        const expected = EXPECTED_FAILURES[check.id]
        byId.set(check.id, {
          ...result, suite: req.suite, level: req.level, text: req.text, ref: req.ref,
          durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
          ...(expected === undefined ? {} : { expectedFailure: expected }),
        })
      }
    }
    // Report in requirement order, whatever order the checks ran in.
    const results = REQUIREMENTS.flatMap((r) => byId.get(r.id) ?? [])
    const summary = {
      passed: results.filter((r) => r.status === 'pass').length,
      failed: results.filter((r) => r.status === 'fail').length,
      skipped: results.filter((r) => r.status === 'skip').length,
      mustFailed: results.filter((r) => r.status === 'fail' && r.level === 'MUST').length,
      mustSkipped: results.filter((r) => r.status === 'skip' && r.level === 'MUST').length,
    }
    const verdict: Verdict = summary.mustFailed > 0 ? 'not_conformant' : summary.mustSkipped > 0 ? 'incomplete' : 'conformant'
    return {
      mode: mesh ? 'local-mesh' : 'targets',
      sdk: mesh ? sdk.name : undefined,
      startedAt,
      finishedAt: new Date().toISOString(),
      results,
      summary,
      verdict,
      ok: verdict === 'conformant',
    }
  } finally {
    await mesh?.close()
    await http.close()
  }
}
