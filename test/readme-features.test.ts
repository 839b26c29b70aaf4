/**
 * The root README's feature table says which test holds each row; a renamed or deleted test leaves the row
 * citing nothing. Every cited file (`client/test/submit.test.ts`, a bare `fuzz.test.ts` meaning the package
 * named just before it in the same cell, or a glob like `relay/test/*`) must match a test file in the tree.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

function packageDir(name: string): string | undefined {
  for (const group of ['packages', 'apps']) {
    try {
      if (statSync(join(root, group, name)).isDirectory()) return join(group, name)
    } catch {
      // not in this group
    }
  }
  return undefined
}

function matches(dir: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`)
  try {
    return readdirSync(join(root, dir)).some((name) => re.test(name))
  } catch {
    return false
  }
}

/** The `this SDK` cell of each feature row, with the row's feature text for the failure message. */
function featureRows(readme: string): Array<{ feature: string; cell: string }> {
  const lines = readme.split('\n')
  const start = lines.findIndex((l) => l.startsWith('| Feature |'))
  const rows: Array<{ feature: string; cell: string }> = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    const cells = line.split(' | ')
    rows.push({ feature: (cells[0] ?? '').replace(/^\| /, ''), cell: cells[1] ?? '' })
  }
  return rows
}

/** Cited paths in one cell that name no test file, as `pkg/test/name`. */
function missing(cell: string): string[] {
  const out: string[] = []
  let pkg: string | undefined
  for (const [, cited] of cell.matchAll(/`([^`]+)`/g)) {
    if (cited === undefined || !/\.test\.ts$|\/test\/\*$/.test(cited)) continue
    const slash = cited.indexOf('/test/')
    if (slash > 0) pkg = cited.slice(0, slash)
    const dir = pkg === undefined ? undefined : packageDir(pkg)
    const file = slash > 0 ? cited.slice(slash + '/test/'.length) : cited
    if (dir === undefined || !matches(join(dir, 'test'), file)) out.push(`${pkg ?? '?'}/test/${file}`)
  }
  return out
}

describe('README feature table', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')

  it('has its rows, citing tests', () => {
    const rows = featureRows(readme)
    expect(rows.length).toBeGreaterThan(20)
    expect(rows.filter((r) => /\.test\.ts`/.test(r.cell)).length).toBeGreaterThan(20)
  })

  it('resolves the shorthand it reads, and reports a name that matches no file', () => {
    expect(missing('✓ `client/test/submit.test.ts`, `retry-and-breaker.test.ts`, `nat/test/*`, `cli/test/proxy*.test.ts`')).toEqual([])
    expect(missing('✓ `client/test/submit.test.ts`, `no-such.test.ts`, `nope/test/x.test.ts`')).toEqual(['client/test/no-such.test.ts', 'nope/test/x.test.ts'])
  })

  it('names only test files that exist', () => {
    const broken = featureRows(readme).flatMap((r) => missing(r.cell).map((m) => `${r.feature}: ${m}`))
    expect(broken).toEqual([])
  })
})
