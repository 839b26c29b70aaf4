/**
 * Directory checks: the spec's three profile manifests (directory-public-v1, directory-dispatch-v1,
 * directory-lifecycle-v1) run case by case against any directory origin. Cases of one profile share state
 * (the lifecycle profile captures node_id and tokens), so a profile runs once per run and each case id
 * reads its own verdict from that run. Profiles the spec marks loopback-only are skipped on remote targets.
 */
import { allProfiles, assertionPasses, captureValues, profileManifest, resolveState } from '../profile-manifest.js'
import type { ProfileManifest } from '../profile-manifest.js'
import type { DirectoryProfile } from '../fixtures-source.js'
import { TargetUnreachable } from '../target-http.js'
import { fail, pass, skip } from './types.js'
import type { Check, CheckContext, CheckResult } from './types.js'

/** A directory under check. */
export interface DirectoryTarget {
  /** Origin the spec's `/api/v1/...` paths are appended to, e.g. `http://127.0.0.1:9480`. */
  readonly origin: string
  /** Whether the origin is a loopback host (loopback-only profiles run only then). */
  readonly loopback: boolean
}

async function runCases(m: ProfileManifest, target: DirectoryTarget, ctx: CheckContext): Promise<Map<string, CheckResult>> {
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
      out.set(c.id, fail(c.id, `expected HTTP ${c.status}, got ${res.status}`, 'unexpected_status', res.status))
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
    run = runCases(profileManifest(profile), target, ctx)
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
