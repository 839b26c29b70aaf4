/**
 * The built `iicp` bin: tsup turns src/bin.ts into an executable ESM file with its shebang, each command in
 * its own chunk, and that file (run as a child process) answers `--help` and routes `mesh --demo`. Sibling
 * @iicp packages stay external and resolve from source here, so no other package needs building first.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'tsup'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { finished } from './run-cli.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SRC = fileURLToPath(new URL('../src/', import.meta.url))

describe('the built bin', { timeout: 120_000 }, () => {
  let out: string

  beforeAll(async () => {
    // Inside the package (node_modules/.cache) so the bin resolves commander & co. as an installed one would.
    const cache = join(ROOT, 'apps/cli/node_modules/.cache')
    await mkdir(cache, { recursive: true })
    out = await mkdtemp(join(cache, 'iicp-built-bin-'))
    // Same shape as tsup.config.ts, written out so the build lands in a temp dir and skips type declarations.
    await build({
      config: false, entry: [join(SRC, 'bin.ts'), join(SRC, 'index.ts')], format: ['esm'], target: 'node20', splitting: true,
      outDir: out, dts: false, silent: true, external: [/^@iicp\//, 'commander', 'picocolors', 'cli-table3', 'yocto-spinner', 'undici'],
    })
  }, 120_000)
  afterAll(async () => {
    await rm(out, { recursive: true, force: true })
  })

  const runBuilt = (args: string[]) => finished(spawn(process.execPath, ['--import', 'tsx', '--conditions=@iicp/source', join(out, 'bin.js'), ...args], {
    cwd: join(ROOT, 'apps/cli'), env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  }))

  it('is an executable file starting with a node shebang, with commands split into their own chunks', async () => {
    const bin = join(out, 'bin.js')
    expect((await readFile(bin, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node')
    expect((await stat(bin)).mode & 0o111).not.toBe(0)
    const files = await readdir(out)
    for (const chunk of ['program-', 'mesh-', 'discover-', 'proxy-']) expect(files.some((f) => f.startsWith(chunk))).toBe(true)
  })

  it('answers --help with exit 0', async () => {
    const run = await runBuilt(['--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('iicp mesh --demo')
  })

  it('routes mesh --demo end to end', async () => {
    const run = await runBuilt(['mesh', '--demo', '--json', '--node-port', '0'])
    expect(run.code).toBe(0)
    expect((JSON.parse(run.stdout) as { reply: string }).reply).toBe('echo: Hello from the IICP mesh')
  })
})
