/**
 * The built `iicp` bin: tsup turns src/bin.ts into an executable ESM file with its shebang, each command in
 * its own chunk, and that file (run as a child process) answers `--help`, routes `mesh --demo`, prints
 * `discover --json` about a directory and node this test starts, exits 2 with the usage line for a bad flag
 * and 1 with one line for an unreachable directory. Sibling @iicp packages stay external and resolve from
 * source here, so no other package needs building first.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'tsup'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { closedPort, finished } from './run-cli.js'

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

  // No inherited IICP_* settings: the bin must behave the same whatever the test runner's environment holds.
  const env: NodeJS.ProcessEnv = { NO_COLOR: '1' }
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IICP_') && k !== 'FORCE_COLOR') env[k] = v
  const runBuilt = (args: string[]) => finished(spawn(process.execPath, ['--import', 'tsx', '--conditions=@iicp/source', join(out, 'bin.js'), ...args], {
    cwd: join(ROOT, 'apps/cli'), env, stdio: ['ignore', 'pipe', 'pipe'],
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

  describe('against a directory and node this test starts', () => {
    let dir: RunningDirectory
    let node: IicpNode
    beforeAll(async () => {
      dir = await startDirectory({ port: 0 })
      node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo(), host: '127.0.0.1', port: 0, persistState: false, region: 'local' })
      await node.serve()
    })
    afterAll(async () => {
      await node.close()
      await dir.close()
    })

    it('prints discover --json as one JSON document on stdout', async () => {
      const run = await runBuilt(['discover', 'llm:chat:v1', '--directory', dir.apiUrl, '--json'])
      expect(run.code).toBe(0)
      expect(run.stderr).toBe('')
      const doc = JSON.parse(run.stdout) as { intent: string; count: number; nodes: Array<Record<string, unknown>> }
      expect(doc).toMatchObject({ intent: 'urn:iicp:intent:llm:chat:v1', directory: dir.apiUrl, count: 1 })
      expect(doc.nodes[0]).toMatchObject({ node_id: node.nodeId, endpoint: node.endpoint, region: 'local', models: ['echo-1'], cx: true })
    })
  })

  it('exits 2 for an unknown flag with the error and the usage line, nothing on stdout', async () => {
    const run = await runBuilt(['discover', 'llm:chat:v1', '--bogus'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr.trim().split('\n')).toEqual(["error: unknown option '--bogus'", 'usage: iicp discover [options] <intent>'])
  })

  it('exits 1 with one line for a directory nothing answers at', async () => {
    const port = await closedPort()
    const run = await runBuilt(['discover', 'llm:chat:v1', '--directory', `http://127.0.0.1:${port}/api`])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr.trim().split('\n')).toEqual([
      `error: cannot reach the IICP directory at http://127.0.0.1:${port}/api (connection refused); point --directory at a running directory, or start a local mesh with \`iicp mesh\``,
    ])
  })
})
