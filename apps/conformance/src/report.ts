/**
 * Rendering a ConformanceReport: a plain-text table for people, a Markdown table for the README, the spec's
 * content-free result documents (`iicp.conformance_result.v1`, schemas/conformance-result-v1.json), one per
 * profile or suite, and the run document `--json` prints around them. The result schema has no "skipped"
 * outcome, so skipped checks stay out of the spec documents and are listed, with their reasons, in the run
 * document next to the verdict.
 */
import { createHash } from 'node:crypto'
import { createColors } from 'picocolors'
import { allProfiles } from './profile-manifest.js'
import { REQUIREMENTS } from './requirements.js'
import type { Level, Requirement } from './requirements.js'
import type { CheckOutcome, ConformanceReport, Verdict } from './run-conformance.js'

/** This runner's version, as `runner_version` in result documents. */
export const RUNNER_VERSION = '0.1.0'
/** The conformance-test-suite version the SDK and node checks follow (cts 4.51.0, wire.md §0). */
export const CTS_VERSION = '4.51.0'

/** One spec result item (conformance-result-v1 `results[]`). */
export interface ResultItem {
  test_id: string
  outcome: 'pass' | 'fail'
  reason: 'passed' | 'request_failed' | 'unexpected_status' | 'assertion_failed'
  observed_status: number | null
  duration_ms: number
}

/** One content-free result document (`iicp.conformance_result.v1`). */
export interface ResultDocument {
  schema: 'iicp.conformance_result.v1'
  runner_version: string
  suite_version: string
  profile: string
  fixture_digest: string
  target_role: 'directory' | 'provider' | 'client'
  evidence_class: 'self-attested'
  started_at: string
  finished_at: string
  summary: { total: number; passed: number; failed: number }
  results: ResultItem[]
  content_free: true
}

/** A check that could not run, with the runner's content-free reason. */
export interface SkippedItem {
  test_id: string
  level: Level
  reason: string
}

/**
 * What `--json` prints: the run's verdict, its tallies, every skipped check with its reason (a skipped MUST is
 * why a run is `incomplete`), and the spec's result documents, which have no place for skips.
 */
export interface RunDocument {
  verdict: Verdict
  summary: { total: number; passed: number; failed: number; skipped: number; must_failed: number; must_skipped: number }
  skipped: SkippedItem[]
  documents: ResultDocument[]
}

interface Group {
  readonly profile: string
  readonly suiteVersion: string
  readonly digest: string
  readonly role: ResultDocument['target_role']
  readonly ids: ReadonlySet<string>
}

function digestOf(reqs: readonly Requirement[]): string {
  const canonical = JSON.stringify(reqs.map((r) => [r.id, r.level, r.ref, r.text]))
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`
}

function suiteGroup(profile: string, suite: Requirement['suite'], role: ResultDocument['target_role']): Group {
  const reqs = REQUIREMENTS.filter((r) => r.suite === suite)
  return { profile, suiteVersion: CTS_VERSION, digest: digestOf(reqs), role, ids: new Set(reqs.map((r) => r.id)) }
}

const GROUPS: readonly Group[] = [
  ...allProfiles().map((m): Group => ({
    profile: m.profile, suiteVersion: m.suiteVersion, digest: m.digest, role: 'directory', ids: new Set(m.tests.map((c) => c.id)),
  })),
  suiteGroup('iicp-node-http-v1', 'node', 'provider'),
  suiteGroup('iicp-sdk-v1', 'sdk', 'client'),
]

function itemOf(r: CheckOutcome): ResultItem {
  return {
    test_id: r.id,
    outcome: r.status === 'pass' ? 'pass' : 'fail',
    reason: r.status === 'pass' ? 'passed' : (r.kind ?? 'assertion_failed'),
    observed_status: typeof r.observedStatus === 'number' ? r.observedStatus : null,
    duration_ms: r.durationMs,
  }
}

/** The spec's content-free result documents: ids, outcomes and status codes only (no URLs, tokens, payloads). */
export function resultDocuments(report: ConformanceReport): ResultDocument[] {
  const docs: ResultDocument[] = []
  for (const g of GROUPS) {
    const items = report.results.filter((r) => g.ids.has(r.id) && r.status !== 'skip').map(itemOf)
    if (items.length === 0) continue
    const passed = items.filter((i) => i.outcome === 'pass').length
    docs.push({
      schema: 'iicp.conformance_result.v1',
      runner_version: RUNNER_VERSION,
      suite_version: g.suiteVersion,
      profile: g.profile,
      fixture_digest: g.digest,
      target_role: g.role,
      evidence_class: 'self-attested',
      started_at: report.startedAt,
      finished_at: report.finishedAt,
      summary: { total: items.length, passed, failed: items.length - passed },
      results: items,
      content_free: true,
    })
  }
  return docs
}

/** The run document: verdict, tallies, skipped checks with reasons, and {@link resultDocuments}. Content-free. */
export function runDocument(report: ConformanceReport): RunDocument {
  const s = report.summary
  return {
    verdict: report.verdict,
    summary: {
      total: report.results.length, passed: s.passed, failed: s.failed, skipped: s.skipped, must_failed: s.mustFailed, must_skipped: s.mustSkipped,
    },
    skipped: report.results.filter((r) => r.status === 'skip').map((r) => ({ test_id: r.id, level: r.level, reason: r.reason })),
    documents: resultDocuments(report),
  }
}

function statusWord(r: CheckOutcome): string {
  if (r.status === 'fail' && r.expectedFailure !== undefined) return 'FAIL (known gap)'
  return r.status.toUpperCase()
}

function colour(word: string, r: CheckOutcome, pc: ReturnType<typeof createColors>): string {
  if (r.status === 'pass') return pc.green(word)
  if (r.status === 'skip') return pc.yellow(word)
  return r.level === 'MUST' ? pc.red(word) : pc.magenta(word)
}

function verdictText(report: ConformanceReport): string {
  if (report.verdict === 'conformant') return 'conformant'
  if (report.verdict === 'not_conformant') return 'NOT conformant'
  const skipped = report.results.filter((r) => r.status === 'skip' && r.level === 'MUST')
  const why = [...new Set(skipped.map((r) => r.reason))].join('; ')
  return `incomplete: ${skipped.length} MUST check${skipped.length === 1 ? '' : 's'} skipped (${why})`
}

function summaryLine(report: ConformanceReport): string {
  const s = report.summary
  return `${s.passed} passed, ${s.failed} failed (${s.mustFailed} MUST), ${s.skipped} skipped (${s.mustSkipped} MUST) — ${verdictText(report)}`
}

/**
 * A plain-text table: id, level, status, reason. Colours only when asked (the CLI asks when stdout is a
 * terminal and NO_COLOR is unset): picocolors' own default also colours whenever CI is set, which would put
 * escape codes into piped output and logs.
 */
export function renderTable(report: ConformanceReport, options: { color?: boolean } = {}): string {
  const pc = createColors(options.color === true)
  const rows = report.results.map((r) => [r.id, r.level, statusWord(r), r.reason] as const)
  const w0 = Math.max(2, ...rows.map((r) => r[0].length))
  const w2 = Math.max(6, ...rows.map((r) => r[2].length))
  const lines = [`${'ID'.padEnd(w0)}  LEVEL   ${'STATUS'.padEnd(w2)}  REASON`]
  report.results.forEach((r, i) => {
    const row = rows[i] as (typeof rows)[number]
    lines.push(`${row[0].padEnd(w0)}  ${row[1].padEnd(6)}  ${colour(row[2].padEnd(w2), r, pc)}  ${row[3]}`)
  })
  const where = report.mode === 'local-mesh' ? `local mesh, SDK ${report.sdk ?? ''}` : 'given targets'
  lines.push('', `${summaryLine(report)} (${where})`)
  return lines.join('\n')
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** A Markdown table (for the README's conformance table): id, level, requirement, status, reason. */
export function renderMarkdown(report: ConformanceReport): string {
  const lines = ['| ID | Level | Requirement | Status | Reason |', '|---|---|---|---|---|']
  for (const r of report.results) {
    const mark = r.status === 'pass' ? '✅ pass' : r.status === 'skip' ? '⏭️ skip' : r.expectedFailure !== undefined ? '❌ fail (known gap)' : '❌ fail'
    lines.push(`| ${r.id} | ${r.level} | ${cell(r.text)} | ${mark} | ${cell(r.reason)} |`)
  }
  lines.push('', `_${summaryLine(report)}._`)
  return lines.join('\n')
}
