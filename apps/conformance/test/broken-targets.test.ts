/**
 * The runner fails, with the right requirement id, against deliberately broken targets: a node that
 * double-wraps its results (NODE-TASK-SHAPE-01), clients that leak their node token into an error message or a
 * log line (SPEC-SDK-06), and a directory that accepts a discover without an intent (DIR-DISC-10).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runConformance, startFaultNode } from '../src/index.js'
import type { ConformanceReport } from '../src/index.js'
import { startDirectoryAcceptingMissingIntent } from './support/broken-directory.js'
import { errorLeakingSdk, logLeakingSdk } from './support/leaky-sdks.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function statusOf(report: ConformanceReport, id: string): string | undefined {
  return report.results.find((r) => r.id === id)?.status
}

describe('broken targets', () => {
  it('fails NODE-TASK-SHAPE-01, and nothing else, against a node that double-wraps results', async () => {
    const node = await startFaultNode({ behaviour: 'double-wrap', intents: ['urn:iicp:intent:llm:chat:v1'] })
    cleanup.push(() => node.close())
    const report = await runConformance({ node: node.url })
    expect(report.mode).toBe('targets')
    expect(report.results.every((r) => r.suite === 'node')).toBe(true)
    const failed = report.results.filter((r) => r.status === 'fail')
    expect(failed.map((r) => r.id)).toEqual(['NODE-TASK-SHAPE-01'])
    expect(failed[0]?.reason).toContain('double-wrapped')
    expect(report.ok).toBe(false)
  })

  it('fails SPEC-SDK-06 when a client puts its node token in an error message', async () => {
    const report = await runConformance({ sdk: errorLeakingSdk, only: ['SPEC-SDK-06', 'SDK-01'] })
    expect(statusOf(report, 'SDK-01')).toBe('pass')
    expect(statusOf(report, 'SPEC-SDK-06')).toBe('fail')
    expect(report.results.find((r) => r.id === 'SPEC-SDK-06')?.reason).toBe('the node_token appears in: error')
    expect(report.ok).toBe(false)
  })

  it('fails SPEC-SDK-06 when a client logs its config with the token in it', async () => {
    const report = await runConformance({ sdk: logLeakingSdk, only: ['SPEC-SDK-06'] })
    expect(report.results.map((r) => [r.id, r.status, r.reason])).toEqual([['SPEC-SDK-06', 'fail', 'the node_token appears in: log output']])
  })

  it('fails DIR-DISC-10 with the observed 200 against a directory that accepts a missing intent', async () => {
    const dir = await startDirectoryAcceptingMissingIntent()
    cleanup.push(() => dir.close())
    const report = await runConformance({ directory: `${dir.url}/api` })
    const failed = report.results.filter((r) => r.status === 'fail')
    expect(failed.map((r) => [r.id, r.kind, r.observedStatus])).toEqual([['DIR-DISC-10', 'unexpected_status', 200]])
    expect(failed[0]?.reason).toBe('expected HTTP 422, got 200')
    expect(report.ok).toBe(false)
  })
})
