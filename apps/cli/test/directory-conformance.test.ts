/**
 * The README's conformance example, for real: `iicp directory serve` (a child process started like `pnpm iicp`)
 * with IICP_SKIP_LIVENESS_CHECK=1 or `--skip-liveness-check`, then `iicp conformance --directory <url>` with no
 * --only, passes every case of the three directory profiles and exits 0; so does `iicp mesh
 * --skip-liveness-check`. Also proves that `directory serve` takes everything the directory package reads
 * from the environment, with flags winning.
 */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { directoryServeOptions } from '../src/commands/directory.js'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { finished, spawnCli, waitForJsonLine } from './run-cli.js'

// Each case starts Node + tsx once on a shared 2-core machine; generous, never asserted on.
const SLOW = 90_000

function bufferIo(): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write(chunk: Buffer | string, _e, cb) { append(chunk.toString()); cb() } })
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1' }, out: () => out, err: () => err }
}

type RunDoc = { verdict: string; documents: Array<{ profile: string; summary: { total: number; passed: number; failed: number } }> }

/** Run the whole directory suite (no --only) against `apiUrl` and return exit code, verdict and per-profile tallies. */
async function conformance(apiUrl: string): Promise<{ code: number; verdict: string; profiles: Array<[string, number, number]> }> {
  const io = bufferIo()
  const code = await main(['node', 'iicp', 'conformance', '--directory', apiUrl, '--json'], io)
  const run = JSON.parse(io.out()) as RunDoc
  return { code, verdict: run.verdict, profiles: run.documents.map((d) => [d.profile, d.summary.passed, d.summary.failed]) }
}

const ALL_PASS: Array<[string, number, number]> = [
  ['directory-public-v1', 10, 0], ['directory-dispatch-v1', 5, 0], ['directory-lifecycle-v1', 6, 0],
]

describe('iicp conformance against iicp directory serve', { timeout: SLOW }, () => {
  it('passes every directory profile when IICP_SKIP_LIVENESS_CHECK=1 is set, on an empty directory', async () => {
    const child = spawnCli(['directory', 'serve', '--port', '0', '--json'], { IICP_SKIP_LIVENESS_CHECK: '1' })
    const done = finished(child)
    try {
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(ready.skip_liveness_check).toBe(true)
      expect(await conformance(String(ready.api_url))).toEqual({ code: 0, verdict: 'conformant', profiles: ALL_PASS })
    } finally {
      child.kill('SIGINT')
    }
    expect((await done).code).toBe(0)
  })

  it('passes every directory profile with --skip-liveness-check, which wins over IICP_SKIP_LIVENESS_CHECK=0', async () => {
    const child = spawnCli(['directory', 'serve', '--port', '0', '--json', '--skip-liveness-check'], { IICP_SKIP_LIVENESS_CHECK: '0' })
    const done = finished(child)
    try {
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(ready.skip_liveness_check).toBe(true)
      expect(await conformance(String(ready.api_url))).toEqual({ code: 0, verdict: 'conformant', profiles: ALL_PASS })
    } finally {
      child.kill('SIGINT')
    }
    expect((await done).code).toBe(0)
  })
})

describe('iicp conformance against iicp mesh', { timeout: SLOW }, () => {
  it('passes every directory profile against the mesh directory with --skip-liveness-check', async () => {
    const child = spawnCli(['mesh', '--json', '--port', '0', '--node-port', '0', '--skip-liveness-check'])
    const done = finished(child)
    try {
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(ready.skip_liveness_check).toBe(true)
      expect(await conformance(String(ready.directory))).toEqual({ code: 0, verdict: 'conformant', profiles: ALL_PASS })
    } finally {
      child.kill('SIGINT')
    }
    expect((await done).code).toBe(0)
  })
})

describe('directoryServeOptions', () => {
  const flags = { port: 0, host: '127.0.0.1', mode: 'local' as const }

  it('takes every option the directory package reads from the environment', () => {
    const env = {
      IICP_SKIP_LIVENESS_CHECK: 'yes', IICP_DIRECTORY_PROBATION: '1', IICP_DIRECTORY_TRUST_PROXY: 'true',
      IICP_DIRECTORY_PUBLIC_ORIGIN: 'https://dir.example.org', IICP_DIRECTORY_DATA_FILE: '/tmp/iicp-dir.json',
    }
    expect(directoryServeOptions(flags, env)).toEqual({
      ...flags, skipLivenessCheck: true, probation: true, trustProxy: true, publicOrigin: 'https://dir.example.org', dataFile: '/tmp/iicp-dir.json',
    })
  })

  it('lets flags win over the environment', () => {
    const env = { IICP_SKIP_LIVENESS_CHECK: '1', IICP_DIRECTORY_DATA_FILE: '/tmp/from-env.json', IICP_DIRECTORY_PORT: '9999' }
    expect(directoryServeOptions({ ...flags, skipLivenessCheck: false, dataFile: '/tmp/from-flag.json' }, env))
      .toEqual({ ...flags, skipLivenessCheck: false, dataFile: '/tmp/from-flag.json' })
  })

  it('rejects a malformed IICP_SKIP_LIVENESS_CHECK with invalid_config naming it', () => {
    expect(() => directoryServeOptions(flags, { IICP_SKIP_LIVENESS_CHECK: 'maybe' })).toThrow(expect.objectContaining({
      code: 'invalid_config', message: expect.stringContaining('IICP_SKIP_LIVENESS_CHECK') as unknown,
    }))
  })
})
