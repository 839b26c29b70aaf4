/**
 * Keeps `pnpm bench` working without timing anything: the harness starts a real server process,
 * drives it from a load-generator child, reads its CPU and RSS, and renders the table and the JSON.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { measureLatency } from '../src/harness/latency.js'
import { runLoad } from '../src/harness/load.js'
import { cpuMs, rssMiB, spawnServer } from '../src/harness/process.js'
import { markdownTable, writeJson } from '../src/harness/report.js'
import { median, percentile } from '../src/harness/stats.js'
import type { BenchRow } from '../src/harness/types.js'

describe('bench harness', () => {
  it('computes medians and nearest-rank percentiles', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10)
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5)
  })

  it('loads a server process from a child and attributes its CPU per request', async () => {
    const server = await spawnServer('bare-echo')
    try {
      expect(server.info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(rssMiB(server.pid)).toBeGreaterThan(1)
      const before = cpuMs(server.pid)
      const body = JSON.stringify({ task_id: 't', payload: { messages: [{ content: 'hi' }] } })
      // A round long enough that a loaded machine still completes some requests in it (only > 0 is asserted).
      const r = await runLoad({ url: `${server.info.url}/v1/task`, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections: 2, durationMs: 1_000 }, server.pid)
      expect(r.total).toBeGreaterThan(0)
      expect(r.cpuMsPerReq).toBeGreaterThanOrEqual(0)
      expect(cpuMs(server.pid)).toBeGreaterThanOrEqual(before)
      const lat = await measureLatency(async () => {
        const res = await request(`${server.info.url}/v1/task`, { method: 'POST', body })
        const json = (await res.body.json()) as { result: { choices: Array<{ message: { content: string } }> } }
        expect(json.result.choices[0]?.message.content).toBe('hi')
      }, { durationMs: 100, warmup: 5 })
      expect(lat.samples).toBeGreaterThan(0)
      expect(lat.p99Ms).toBeGreaterThanOrEqual(lat.p50Ms)
    } finally {
      await server.close()
    }
  })

  it('renders rows with their ratio, target and verdict', () => {
    const rows: BenchRow[] = [
      { name: 'node task', metric: 'req/s @16', candidate: { label: 'IicpNode', opsPerSec: 9000 }, baseline: { label: 'bare', opsPerSec: 10000 }, value: 0.9, target: { op: '>=', value: 0.85, on: 'ratio' } },
      { name: 'directory heartbeat', metric: 'beats/s', candidate: { label: 'directory', opsPerSec: 1500 }, value: 1500, target: { op: '>=', value: 2000, on: 'absolute', unit: '/s' } },
    ]
    const table = markdownTable(rows)
    expect(table).toContain('| node task | req/s @16 |')
    expect(table).toContain('0.900×')
    expect(table.split('\n')[3]).toContain('**no**')
    const file = join(mkdtempSync(join(tmpdir(), 'bench-')), 'out.json')
    writeJson(file, rows, { quick: true })
    const json = JSON.parse(readFileSync(file, 'utf8')) as { rows: Array<{ pass: boolean }> }
    expect(json.rows.map((r) => r.pass)).toEqual([true, false])
  })

  it('prints latencies no finer than the load tool resolved them', () => {
    const row = (p50Ms: number, p99Ms: number, latencyResolutionMs?: number): BenchRow => ({
      name: 'x', metric: 'req/s', candidate: { label: 'c', opsPerSec: 1, p50Ms, p99Ms, ...(latencyResolutionMs === undefined ? {} : { latencyResolutionMs }) }, value: 1,
    })
    // autocannon's whole-millisecond histogram: no invented decimals, and 0 means "below 1 ms".
    expect(markdownTable([row(0, 12.5, 1)])).toContain('p50 <1 ms, p99 13 ms')
    expect(markdownTable([row(29, 198, 1)])).toContain('p50 29 ms, p99 198 ms')
    // A harness that measures finer keeps its decimals.
    expect(markdownTable([row(0.0423, 0.25)])).toContain('p50 0.042 ms, p99 0.250 ms')
  })
})
