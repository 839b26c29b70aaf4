/**
 * Each package's runtime dependencies are exactly what its src/ imports. A dependency src never imports is
 * installed for every user for nothing; a package src imports but does not declare works in this workspace
 * only by accident (or is bundled into dist/ when it is a devDependency) and fails for a user. Tests and
 * benchmarks take what they need from devDependencies.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

interface Manifest { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> }

function files(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(files(p))
    else if (/\.(ts|mts)$/.test(name)) out.push(p)
  }
  return out
}

/** Module specifiers in one file: static and type imports, re-exports, import(), import = require() (the compiler's scanner). */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName)
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; relative paths and node builtins → undefined. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0] as string)) return undefined
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

function imported(srcDir: string): Set<string> {
  const names = new Set<string>()
  for (const path of files(srcDir)) {
    for (const spec of specifiers(readFileSync(path, 'utf8'))) {
      const name = packageOf(spec)
      if (name !== undefined) names.add(name)
    }
  }
  return names
}

const packages = ['packages', 'apps'].flatMap((group) => readdirSync(join(root, group))
  .map((name) => join(group, name))
  .filter((dir) => {
    try {
      return statSync(join(root, dir, 'package.json')).isFile() && statSync(join(root, dir, 'src')).isDirectory()
    } catch {
      return false
    }
  }))

describe('runtime dependencies match what src imports', () => {
  it('finds the workspace packages', () => {
    expect(packages).toEqual(expect.arrayContaining(['packages/protocol', 'packages/node', 'apps/cli']))
  })

  it('reads every import form (so an empty difference means something)', { timeout: 60_000 }, () => {
    const found = specifiers([
      "import a from 'alpha'", "import type { B } from '@scope/beta/sub'", "export { c } from 'gamma'", "import 'delta'",
      "const e = await import('epsilon')", "import f = require('zeta')", "type G = import('eta').G", "import { h } from './local.js'",
      "import { i } from 'node:fs'",
    ].join('\n'))
    expect(found.map(packageOf).filter((n) => n !== undefined)).toEqual(['alpha', '@scope/beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta'])
  })

  for (const dir of packages) {
    it(`${dir}: every runtime dependency is imported by src/, and src/ imports only declared ones`, { timeout: 60_000 }, () => {
      const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})])
      const used = imported(join(root, dir, 'src'))
      used.delete(manifest.name)
      expect({ unused: [...declared].filter((d) => !used.has(d)).sort(), undeclared: [...used].filter((d) => !declared.has(d)).sort() })
        .toEqual({ unused: [], undeclared: [] })
    })
  }
})
