/**
 * The repository README's conformance table is live: each of its six rows (SDK-01..06) carries the status the
 * runner reports for this SDK right now, so a regression (or a stale README) fails here.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runConformance } from '../src/index.js'
import { README_TABLE_END, README_TABLE_START, readmeTable, replaceReadmeTable } from '../src/readme-table.js'

const README_IDS = ['SDK-01', 'SDK-02', 'SDK-03', 'SDK-04', 'SDK-05', 'SDK-06']

describe('README conformance table', () => {
  it('lists SDK-01..06 with the status the runner reports now', { timeout: 60_000 }, async () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
    const section = readme.slice(readme.indexOf(README_TABLE_START), readme.indexOf(README_TABLE_END))
    const rows = section.split('\n').filter((l) => /^\| SDK-0\d /.test(l)).map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '')))
    expect(rows.map((r) => r[0])).toEqual(README_IDS)
    const report = await runConformance({ only: README_IDS })
    for (const result of report.results) {
      const row = rows.find((r) => r[0] === result.id)
      expect(row?.[2], result.id).toBe(result.status === 'pass' ? 'done, passing' : result.status === 'skip' ? 'skipped' : 'failing')
    }
    expect(report.results.every((r) => r.status === 'pass')).toBe(true)
  })

  it('rewrites only the text between the markers', () => {
    const doc = `intro\n${README_TABLE_START}\nold\n${README_TABLE_END}\noutro`
    expect(replaceReadmeTable(doc, 'new')).toBe(`intro\n${README_TABLE_START}\nnew\n${README_TABLE_END}\noutro`)
    expect(() => replaceReadmeTable('no markers', 'x')).toThrow(/markers/)
    expect(readmeTable({ results: [] } as unknown as Parameters<typeof readmeTable>[0]).split('\n')).toHaveLength(2)
  })
})
