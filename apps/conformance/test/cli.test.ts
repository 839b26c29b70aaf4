/**
 * The conformance command as users run it, with injected output: exit 0 and spec JSON when every MUST of all
 * three directory profiles passes against an empty directory in the lifecycle profile's test mode (the runner
 * brings the chat node DIR-DISPATCH-01 needs and takes it away again), exit 1 when one fails (with the fix
 * named when it is the directory's liveness probe), exit 3 when a MUST was skipped (a token-mode node checked
 * without its token) and 0 for the same node with it, exit 2 for a remote target without --allow-remote
 * (nothing is contacted), and Markdown output for the README table. Runs against small loopback targets.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import { EXIT_INCOMPLETE, runCli, startLocalMesh } from '../src/index.js'
import type { CommandIo, RunDocument } from '../src/index.js'
import { startDirectoryAcceptingMissingIntent } from './support/broken-directory.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function io(env: Record<string, string> = {}): CommandIo & { out: string; err: string; code: number | undefined } {
  const state = {
    out: '', err: '', code: undefined as number | undefined, env,
    stdout(t: string) {
      state.out += t
    },
    stderr(t: string) {
      state.err += t
    },
    setExitCode(c: number) {
      state.code = c
    },
  }
  return state
}

const PUBLIC_IDS = 'DIR-DISC-01,DIR-DISC-04,DIR-DISC-09,DIR-DISC-10'

describe('iicp conformance', () => {
  it('exits 0 with every directory profile passing against an empty directory that skips the liveness probe', async () => {
    const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0, skipLivenessCheck: true })
    cleanup.push(() => dir.close())
    expect(dir.directory.nodeCount).toBe(0)
    const o = io()
    await runCli(['node', 'conformance', '--', '--directory', dir.apiUrl, '--json'], o)
    expect(o.code).toBe(0)
    const run = JSON.parse(o.out) as RunDocument
    expect([run.verdict, run.skipped]).toEqual(['conformant', []])
    const docs = run.documents
    expect(docs.map((d) => [d.profile, d.summary.passed, d.summary.failed])).toEqual([
      ['directory-public-v1', 10, 0], ['directory-dispatch-v1', 5, 0], ['directory-lifecycle-v1', 6, 0],
    ])
    expect(docs[1]?.results[0]).toMatchObject({ test_id: 'DIR-DISPATCH-01', outcome: 'pass' })
    expect(o.out).not.toContain(String(dir.port))
    // The runner's chat node and the lifecycle profile's node are both deregistered again.
    expect(dir.directory.nodeCount).toBe(0)
  })

  it('fails DIR-LIFECYCLE-01 on a directory that probes liveness, naming the switch that turns the probe off', async () => {
    // The probe stays on; its time limit is generous so a loaded machine cannot fail the fixture node's probe.
    const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0, livenessTimeoutMs: 30_000 })
    cleanup.push(() => dir.close())
    const o = io()
    await runCli(['node', 'conformance', '--directory', dir.apiUrl], o)
    expect(o.code).toBe(1)
    expect(o.out).toMatch(/DIR-DISPATCH-01\s+MUST\s+PASS/)
    expect(o.out).toContain('DIR-LIFECYCLE-01  MUST    FAIL    expected HTTP 201, got 422 (liveness_failed: the profile registers a placeholder'
      + ' endpoint no probe reaches; run the directory with IICP_SKIP_LIVENESS_CHECK=1, e.g. `iicp directory serve --skip-liveness-check`)')
    expect(dir.directory.nodeCount).toBe(0)
  })

  it('says why DIR-DISPATCH-01 fails when the directory lists no chat node and refuses the runner\'s loopback one', async () => {
    const dir = await startDirectory({ port: 0, host: '127.0.0.1', mode: 'public', pruneIntervalMs: 0, skipLivenessCheck: true })
    cleanup.push(() => dir.close())
    const o = io()
    await runCli(['node', 'conformance', '--directory', dir.apiUrl, '--only', 'DIR-DISPATCH-01'], o)
    expect(o.code).toBe(1)
    // Public mode refuses non-routable endpoints (IICP-E035), the runner's 127.0.0.1 node among them.
    expect(o.out).toContain("DIR-DISPATCH-01  MUST    FAIL    expected HTTP 201, got 404 (no chat node listed, and the directory refused the runner's loopback chat node: HTTP 422 IICP-E035)")
    expect(dir.directory.nodeCount).toBe(0)
  })

  it('exits 1 and shows the failing id in the table when a MUST fails', async () => {
    const dir = await startDirectoryAcceptingMissingIntent()
    cleanup.push(() => dir.close())
    const o = io()
    await runCli(['node', 'conformance', '--directory', dir.url, '--only', PUBLIC_IDS], o)
    expect(o.code).toBe(1)
    expect(o.out).toMatch(/DIR-DISC-10\s+MUST\s+FAIL\s+expected HTTP 422, got 200/)
    expect(o.out).toContain('NOT conformant')
  })

  it('exits 3 (incomplete) when MUST checks are skipped for want of a node token, listing them in --json, and 0 with the token', async () => {
    const mesh = await startLocalMesh()
    cleanup.push(() => mesh.close())
    const without = io()
    await runCli(['node', 'conformance', '--node', mesh.tokenNode.url, '--json'], without)
    expect(without.code).toBe(EXIT_INCOMPLETE)
    expect(EXIT_INCOMPLETE).toBe(3)
    const run = JSON.parse(without.out) as RunDocument
    const hint = 'the node requires a token; set IICP_CONFORMANCE_NODE_TOKEN to check tasks'
    expect(run.verdict).toBe('incomplete')
    expect(run.summary).toMatchObject({ failed: 0, must_failed: 0, skipped: 7, must_skipped: 6 })
    expect(run.skipped).toEqual([
      ...['NODE-TASK-01', 'NODE-TASK-02', 'NODE-TASK-03', 'NODE-TASK-04', 'NODE-TASK-06', 'NODE-TASK-SHAPE-01'].map((id) => ({ test_id: id, level: 'MUST', reason: hint })),
      { test_id: 'NODE-TASK-SHAPE-02', level: 'SHOULD', reason: hint },
    ])
    expect(run.documents.map((d) => d.profile)).toEqual(['iicp-node-http-v1'])
    expect(run.documents[0]?.results.map((r) => r.test_id)).not.toContain('NODE-TASK-01')

    const table = io()
    await runCli(['node', 'conformance', '--node', mesh.tokenNode.url], table)
    expect(table.code).toBe(3)
    expect(table.out).toContain(`0 failed (0 MUST), 7 skipped (6 MUST) — incomplete: 6 MUST checks skipped (${hint})`)
    expect(table.out).not.toContain('— conformant')

    const withToken = io({ IICP_CONFORMANCE_NODE_TOKEN: mesh.tokenNode.token })
    await runCli(['node', 'conformance', '--node', mesh.tokenNode.url, '--json'], withToken)
    expect(withToken.code).toBe(0)
    const ok = JSON.parse(withToken.out) as RunDocument
    expect([ok.verdict, ok.skipped, ok.summary.failed]).toEqual(['conformant', [], 0])
    expect(withToken.out).not.toContain(mesh.tokenNode.token)
  })

  it('exits 2 for a remote target without --allow-remote, before contacting it', async () => {
    const o = io()
    await runCli(['node', 'conformance', '--node', 'https://node.example.org'], o)
    expect(o.code).toBe(2)
    expect(o.err).toBe('error: --node is not a loopback address; pass --allow-remote to check remote targets\n')
    expect(o.out).toBe('')
  })

  it('exits 2 for an unknown requirement id and for --json with --markdown', async () => {
    const unknown = io()
    await runCli(['node', 'conformance', '--only', 'SDK-99'], unknown)
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain('SDK-99')
    const both = io()
    await runCli(['node', 'conformance', '--json', '--markdown'], both)
    expect(both.code).toBe(2)
  })

  it('prints the README six rows as Markdown with --markdown', async () => {
    const o = io()
    await runCli(['node', 'conformance', '--markdown', '--only', 'SDK-01,SDK-02,SDK-03,SDK-04,SDK-05,SDK-06'], o)
    expect(o.code).toBe(0)
    const rows = o.out.split('\n').filter((l) => l.startsWith('| SDK-0'))
    expect(rows.map((l) => l.split(' | ')[0])).toEqual(['| SDK-01', '| SDK-02', '| SDK-03', '| SDK-04', '| SDK-05', '| SDK-06'])
    expect(rows.every((l) => l.includes('✅ pass'))).toBe(true)
  })
})

describe('iicp conformance usage errors', () => {
  it('exits 2 when --only selects nothing for the chosen targets', async () => {
    const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
    cleanup.push(() => dir.close())
    const o = io()
    await runCli(['node', 'conformance', '--directory', dir.url, '--only', 'SDK-01'], o)
    expect([o.code, o.err]).toEqual([2, 'error: --only selects no check for the chosen targets\n'])
  })

  it('prints a usage error as one JSON error object on stdout with --json', async () => {
    const o = io()
    await runCli(['node', 'conformance', '--json', '--node', 'http://[::ffff:10.0.0.1]:9484'], o)
    expect(o.code).toBe(2)
    expect(JSON.parse(o.out)).toEqual({ error: { code: 'invalid_config', message: '--node is not a loopback address; pass --allow-remote to check remote targets' } })
    expect(o.err).toBe('')
  })
})
