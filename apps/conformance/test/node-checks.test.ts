/**
 * Node checks against real provider nodes over HTTP: this repo's IicpNode passes every node check it can on its
 * own (no directory; open mode makes the wrong-token check moot, so it is skipped), and a node that demands a
 * token passes NODE-TASK-05 while its task checks are skipped with a token hint instead of failing. Either way a
 * MUST went unchecked, so the run is incomplete, not conformant. NODE-ERR-02 wants 400 or 422, so a target that
 * is not a node (a directory answering 404 on /v1/task) fails it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import { IicpNode } from '@iicp/node'
import { NODE_REQUIREMENTS, renderTable, runConformance } from '../src/index.js'

const nodes: IicpNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

async function serve(auth: 'open' | 'token'): Promise<IicpNode> {
  const node = new IicpNode({
    directoryUrl: null, host: '127.0.0.1', port: 0, persistState: false, auth,
    capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['conformance-echo'] }],
    handler: () => ({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }] }),
  })
  nodes.push(node)
  await node.serve()
  return node
}

describe('node checks', () => {
  it('passes every node check against an open IicpNode but the token check open mode makes moot, so the run is incomplete', async () => {
    const node = await serve('open')
    const report = await runConformance({ node: node.url ?? '' })
    expect(report.results.map((r) => [r.id, r.status])).toEqual(NODE_REQUIREMENTS.map((r) => [r.id, r.id === 'NODE-TASK-05' ? 'skip' : 'pass']))
    expect([report.verdict, report.ok, report.summary.mustSkipped, report.summary.mustFailed]).toEqual(['incomplete', false, 1, 0])
    expect(renderTable(report)).toContain('1 skipped (1 MUST) — incomplete: 1 MUST check skipped (the node accepts any caller (open mode, wire.md §9.18), so token checks do not apply)')
  })

  it('skips the task checks with a token hint when the node demands a token, and still checks health and errors', async () => {
    const node = await serve('token')
    const report = await runConformance({ node: node.url ?? '' })
    const byId = new Map(report.results.map((r) => [r.id, r]))
    expect(byId.get('NODE-TASK-05')?.status).toBe('pass')
    for (const id of ['NODE-TASK-01', 'NODE-TASK-02', 'NODE-TASK-03', 'NODE-TASK-04', 'NODE-TASK-06', 'NODE-TASK-SHAPE-01']) {
      expect(byId.get(id)?.status, id).toBe('skip')
      expect(byId.get(id)?.reason).toContain('IICP_CONFORMANCE_NODE_TOKEN')
    }
    for (const id of ['NODE-HEALTH-01', 'NODE-HEALTH-02', 'NODE-HEALTH-03', 'NODE-TASK-08', 'NODE-ERR-01', 'NODE-ERR-03', 'NODE-CORS-01']) {
      expect(byId.get(id)?.status, id).toBe('pass')
    }
    expect([report.verdict, report.ok, report.summary.mustSkipped, report.summary.mustFailed]).toEqual(['incomplete', false, 6, 0])
  })

  it('fails NODE-ERR-02 against a target that answers a malformed task with 404 (a directory, not a node)', async () => {
    const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
    try {
      const report = await runConformance({ node: dir.url, only: ['NODE-ERR-02'] })
      expect(report.results.map((r) => [r.id, r.status, r.reason, r.observedStatus])).toEqual([
        ['NODE-ERR-02', 'fail', 'expected HTTP 400 or 422 for a malformed intent, got HTTP 404', 404],
      ])
      expect(report.verdict).toBe('not_conformant')
    } finally {
      await dir.close()
    }
  })
})
