/**
 * The whole workspace type-checks under the strict base config (tests run from source through vitest,
 * which strips types without checking them, so this is where a type error fails CI).
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

describe('workspace types', () => {
  it('type-checks every package, app, benchmark and test with tsc --noEmit', { timeout: 300_000 }, () => {
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })
})
