/**
 * Directory checks: the spec's three profile manifests (directory-public-v1, directory-dispatch-v1,
 * directory-lifecycle-v1) run case by case against any directory origin. Cases of one profile share state
 * (the lifecycle profile captures node_id and tokens), so a profile runs once per run and each case id
 * reads its own verdict from that run. Profiles the spec marks loopback-only are skipped on remote targets.
 * The dispatch profile runs with a runner-hosted chat node registered (fixture-chat-node.ts), so
 * DIR-DISPATCH-01 can pass on an empty directory; a failure the operator can fix says how.
 */
import { allProfiles, assertionPasses, captureValues, profileManifest, resolveState } from '../profile-manifest.js'
import type { ProfileManifest } from '../profile-manifest.js'
import type { DirectoryProfile } from '../fixtures-source.js'
import { withFixtureChatNode } from '../fixture-chat-node.js'
import type { FixtureOutcome } from '../fixture-chat-node.js'
import { TargetUnreachable } from '../target-http.js'
import { fail, pass, safeCode, skip } from './types.js'
import type { Check, CheckContext, CheckResult } from './types.js'

/** A directory under check. */
export interface DirectoryTarget {
  /** Origin the spec's `/api/v1/...` paths are appended to, e.g. `http://127.0.0.1:9480`. */
  readonly origin: string
  /** Whether the origin is a loopback host (loopback-only profiles run only then). */
  readonly loopback: boolean
}

/** The profile whose first case needs a live chat node in the directory. */
const DISPATCH_PROFILE = 'directory-dispatch-v1'
/** The case that registers the spec's placeholder endpoint, which no liveness probe can reach. */
const PLACEHOLDER_REGISTRATION = 'DIR-LIFECYCLE-01'

/** A next step for an unexpected status the operator can fix (content-free: codes and flag names only). */
function advice(id: string, status: number, json: unknown, fixture: FixtureOutcome | undefined): string {
  const code = safeCode((json as { error?: { code?: unknown } } | null | undefined)?.error?.code)
  if (id === PLACEHOLDER_REGISTRATION && status === 422 && code === 'liveness_failed') {
    return ' (liveness_failed: the profile registers a placeholder endpoint no probe reaches; run the directory with'
      + ' IICP_SKIP_LIVENESS_CHECK=1, e.g. `iicp directory serve --skip-liveness-check`)'
  }
  if (fixture !== undefined && !fixture.registered) return ` (no chat node listed, and the directory refused the runner's loopback chat node: ${fixture.refused})`
  return ''
}

async function runCases(m: ProfileManifest, target: DirectoryTarget, ctx: CheckContext, fixture?: FixtureOutcome): Promise<Map<string, CheckResult>> {
  const out = new Map<string, CheckResult>()
  if (m.loopbackOnly && !target.loopback) {
    for (const c of m.tests) out.set(c.id, skip(c.id, `${m.profile} is restricted to loopback targets by the spec`))
    return out
  }
  const state = new Map<string, string>()
  for (const c of m.tests) {
    let resolved
    try {
      resolved = resolveState({ path: c.path, headers: c.headers, body: c.body }, state)
    } catch {
      out.set(c.id, fail(c.id, 'needs a value an earlier case of the profile did not capture', 'request_failed', null))
      continue
    }
    let res
    try {
      res = await ctx.http.send({
        method: c.method,
        url: `${target.origin}${resolved.path}`,
        headers: resolved.headers,
        // The reference runner sends `{}` for body-bearing methods without a body.
        body: c.method === 'GET' ? undefined : (resolved.body ?? {}),
        signal: ctx.signal,
      })
    } catch (err) {
      if (!(err instanceof TargetUnreachable)) throw err
      out.set(c.id, fail(c.id, 'the directory did not answer', 'request_failed', null))
      continue
    }
    if (res.status !== c.status) {
      const next = c.status >= 200 && c.status < 300 ? advice(c.id, res.status, res.json, c.id === 'DIR-DISPATCH-01' ? fixture : undefined) : ''
      out.set(c.id, fail(c.id, `expected HTTP ${c.status}, got ${res.status}${next}`, 'unexpected_status', res.status))
      continue
    }
    if (!assertionPasses(c.assertion, res.text)) {
      out.set(c.id, fail(c.id, `HTTP ${res.status} as expected but the body fails ${c.assertion}`, 'assertion_failed', res.status))
      continue
    }
    const captured = captureValues(res.json, c.capture)
    if (!captured) {
      out.set(c.id, fail(c.id, 'the answer lacks a value the profile captures', 'request_failed', res.status))
      continue
    }
    for (const [k, v] of captured) state.set(k, v)
    out.set(c.id, pass(c.id, c.assertion === 'none' ? `HTTP ${res.status} as expected` : `HTTP ${res.status}, body passes ${c.assertion}`, res.status))
  }
  return out
}

function profileRun(profile: DirectoryProfile, target: DirectoryTarget, ctx: CheckContext): Promise<Map<string, CheckResult>> {
  const key = `directory:${profile}`
  let run = ctx.memo.get(key) as Promise<Map<string, CheckResult>> | undefined
  if (!run) {
    const m = profileManifest(profile)
    run = profile === DISPATCH_PROFILE && target.loopback
      ? withFixtureChatNode(target.origin, ctx.http, ctx.signal, (fixture) => runCases(m, target, ctx, fixture))
      : runCases(m, target, ctx)
    ctx.memo.set(key, run)
  }
  return run
}

/** One check per case of every embedded directory profile. */
export const DIRECTORY_CHECKS: readonly Check<DirectoryTarget>[] = allProfiles().flatMap((m) =>
  m.tests.map((c): Check<DirectoryTarget> => ({
    id: c.id,
    async run(target, ctx) {
      const results = await profileRun(m.profile, target, ctx)
      return results.get(c.id) ?? fail(c.id, 'the profile run produced no verdict for this case')
    },
  })),
)
