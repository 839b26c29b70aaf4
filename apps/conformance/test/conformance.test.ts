/**
 * The whole runner against this repository's SDK on its own local mesh: every requirement is checked, every
 * MUST passes except the listed known gaps, a known gap that now passes fails this test (stale entry), and
 * the JSON documents follow the spec's content-free result schema with no URL, port or token in them.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { EXPECTED_FAILURES, EXPECTED_SKIPS, REQUIREMENTS, renderMarkdown, resultDocuments, runConformance } from '../src/index.js'
import type { ConformanceReport } from '../src/index.js'

let report: ConformanceReport

beforeAll(async () => {
  report = await runConformance()
}, 120_000)

const RESULT_KEYS = ['schema', 'runner_version', 'suite_version', 'profile', 'fixture_digest', 'target_role', 'evidence_class', 'started_at', 'finished_at', 'summary', 'results', 'content_free']

describe('runConformance on the local mesh', () => {
  it('checks every requirement exactly once, in requirement order', () => {
    expect(report.mode).toBe('local-mesh')
    expect(report.results.map((r) => r.id)).toEqual(REQUIREMENTS.map((r) => r.id))
  })

  it('passes every requirement except the listed known gaps and skips, and no listed entry passes', () => {
    const notPassing = report.results.filter((r) => r.status !== 'pass').map((r) => [r.id, r.status, r.reason])
    const listed = [
      ...Object.keys(EXPECTED_FAILURES).map((id) => [id, 'fail']), ...Object.keys(EXPECTED_SKIPS).map((id) => [id, 'skip']),
    ]
    const order = REQUIREMENTS.map((r) => r.id)
    listed.sort((a, b) => order.indexOf(a[0] as string) - order.indexOf(b[0] as string))
    expect(notPassing.map(([id, status]) => [id, status])).toEqual(listed)
  })

  it('makes SPEC-SDK-06 meaningful: the client sent its token and a node quoted it back before redaction was checked', () => {
    expect(report.results.find((r) => r.id === 'SPEC-SDK-06')?.reason).toContain('(one node quoted it back)')
  })

  it('is conformant unless a listed known gap or skip is a MUST, and verdict and ok say so', () => {
    const knownMust = report.results.filter((r) => r.id in EXPECTED_FAILURES && r.level === 'MUST').length
    const skippedMust = report.results.filter((r) => r.id in EXPECTED_SKIPS && r.level === 'MUST').length
    expect(report.summary.mustFailed).toBe(knownMust)
    expect(report.summary.mustSkipped).toBe(skippedMust)
    expect(report.verdict).toBe(knownMust > 0 ? 'not_conformant' : skippedMust > 0 ? 'incomplete' : 'conformant')
    expect(report.ok).toBe(knownMust === 0 && skippedMust === 0)
  })

  it('runs the wrong-token check against the mesh\'s token-mode node instead of skipping it', () => {
    expect(report.results.find((r) => r.id === 'NODE-TASK-05')).toMatchObject({ status: 'pass', reason: 'HTTP 401 unauthorized for a wrong token' })
  })

  it('emits one spec-shaped, content-free result document per profile and suite', () => {
    const docs = resultDocuments(report)
    expect(docs.map((d) => d.profile)).toEqual(['directory-public-v1', 'directory-dispatch-v1', 'directory-lifecycle-v1', 'iicp-node-http-v1', 'iicp-sdk-v1'])
    for (const d of docs) {
      expect(Object.keys(d).sort()).toEqual([...RESULT_KEYS].sort())
      expect(d.schema).toBe('iicp.conformance_result.v1')
      expect(d.fixture_digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(d.content_free).toBe(true)
      expect(d.summary.total).toBe(d.results.length)
      expect(d.summary.passed + d.summary.failed).toBe(d.summary.total)
      for (const item of d.results) {
        expect(Object.keys(item).sort()).toEqual(['duration_ms', 'observed_status', 'outcome', 'reason', 'test_id'])
        expect(['pass', 'fail']).toContain(item.outcome)
        expect(['passed', 'request_failed', 'unexpected_status', 'assertion_failed']).toContain(item.reason)
      }
    }
    const text = JSON.stringify(docs)
    expect(text).not.toMatch(/https?:\/\//)
    expect(text).not.toContain('127.0.0.1')
    expect(text).not.toMatch(/conformance\.[a-z]+\.secret/)
  })

  it('keeps every one-line reason content-free: no URL, address, port or token', () => {
    for (const r of report.results) {
      expect(r.reason, r.id).not.toMatch(/https?:\/\/|127\.0\.0\.1|localhost|conformance\.[a-z]+\.secret|echo: /)
      expect(r.reason.includes('\n'), r.id).toBe(false)
    }
  })

  it('renders the README six rows as a Markdown table with their live status', () => {
    const six = { ...report, results: report.results.filter((r) => /^SDK-0[1-6]$/.test(r.id)) }
    const md = renderMarkdown(six).split('\n')
    expect(md[0]).toBe('| ID | Level | Requirement | Status | Reason |')
    expect(md.filter((l) => /^\| SDK-0[1-6] \| MUST \| .* \| ✅ pass \| /.test(l))).toHaveLength(6)
  })
})
