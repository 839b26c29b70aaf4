/**
 * Dependencies point one way: protocol ← client, nat, relay, directory ← node ← apps. This walks every
 * package's src/ and fails on an import that points up or sideways, on a package.json runtime dependency
 * that does, and on any relative import that reaches into another package's folder.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

const allowed: Record<string, readonly string[]> = {
  protocol: [],
  client: ['protocol'],
  nat: ['protocol'],
  relay: ['protocol'],
  directory: ['protocol'],
  node: ['protocol', 'client', 'nat', 'relay', 'directory'],
}

function files(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(files(p))
    else if (/\.(ts|mts)$/.test(name)) out.push(p)
  }
  return out
}

const importRe = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

describe('package layering', () => {
  for (const [pkg, deps] of Object.entries(allowed)) {
    it(`@iicp/${pkg} src imports only ${deps.length ? deps.map((d) => `@iicp/${d}`).join(', ') : 'no other @iicp package'}`, () => {
      const srcDir = join(root, 'packages', pkg, 'src')
      const offending: string[] = []
      for (const file of files(srcDir)) {
        const text = readFileSync(file, 'utf8')
        for (const m of text.matchAll(importRe)) {
          const spec = m[1] ?? m[2] ?? ''
          const iicp = /^@iicp\/([^/]+)/.exec(spec)
          if (iicp && !deps.includes(iicp[1] as string)) offending.push(`${relative(root, file)} → ${spec}`)
          if (spec.startsWith('.')) {
            const target = resolve(file, '..', spec)
            if (!target.startsWith(join(root, 'packages', pkg) + '/')) offending.push(`${relative(root, file)} → ${spec}`)
          }
        }
      }
      expect(offending).toEqual([])
    })

    it(`@iicp/${pkg} package.json depends at run time only on lower layers`, () => {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
      const iicpDeps = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@iicp/')).map((d) => d.slice(6))
      expect(iicpDeps.filter((d) => !deps.includes(d))).toEqual([])
    })
  }
})
