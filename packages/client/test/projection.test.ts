/**
 * SDK request projection (sdk-request-projection-v0.json): route options and execution constraints are split as
 * the fixture expects, with explicit route options > task-level options > client config > defaults.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { projectRequest } from '../src/index.js'
import type { Qos } from '@iicp/protocol'

interface Constraints { timeout_ms?: number; qos?: Qos; region?: string; model?: string; min_reputation?: number }
interface RouteC { region?: string; qos?: Qos; model?: string; min_reputation?: number; browser_usable_only?: boolean; limit?: number; profile_request?: { profile_id: string; profile_version: string; profile_fixture_sha256?: string; required?: boolean } }
const fx = JSON.parse(readFileSync(new URL('../../../fixtures/spec/research/pre-normative-profiles/fixtures/sdk-request-projection-v0.json', import.meta.url), 'utf8')) as {
  cases: { name: string; config: { region?: string }; task: { constraints?: Constraints; route_constraints?: RouteC }; expected: { route_options: Record<string, unknown>; execution_constraints: Record<string, unknown> } }[]
}

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

describe('sdk-request-projection-v0', () => {
  for (const c of fx.cases) {
    it(`projects "${c.name}" as the fixture expects`, () => {
      const t = c.task.constraints ?? {}
      const r = c.task.route_constraints
      const p = projectRequest(
        { region: c.config.region, timeoutMs: 30_000 },
        { timeoutMs: t.timeout_ms, qos: t.qos, model: t.model, region: t.region, minReputation: t.min_reputation },
        r === undefined ? {} : {
          region: r.region, qos: r.qos, model: r.model, minReputation: r.min_reputation, browserUsableOnly: r.browser_usable_only, limit: r.limit,
          profileRequest: r.profile_request === undefined ? undefined : {
            profileId: r.profile_request.profile_id, profileVersion: r.profile_request.profile_version,
            profileFixtureSha256: r.profile_request.profile_fixture_sha256, required: r.profile_request.required,
          },
        } as never,
      )
      const pr = p.route.profileRequest
      expect({
        region: p.route.region ?? null, qos: p.route.qos ?? null, model: p.route.model ?? null, min_reputation: p.route.minReputation ?? null,
        browser_usable_only: p.route.browserUsableOnly, limit: p.route.limit,
        profile_request: pr ? { profile_id: pr.profileId, profile_version: pr.profileVersion, profile_fixture_sha256: pr.profileFixtureSha256, required: pr.required } : null,
      }).toEqual(c.expected.route_options)
      expect(strip({ timeout_ms: p.execution.timeoutMs, qos: p.execution.qos, model: p.execution.model, max_tokens: p.execution.maxTokens }))
        .toEqual(c.expected.execution_constraints)
    })
  }
})
