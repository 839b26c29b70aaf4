/** @iicp/node: POST /v1/task through IicpNode beside a bare node:http JSON echo, at 16 and 64 connections. */
import { interleavedLoad } from '../harness/rounds.js'
import { rssMiB, spawnServer } from '../harness/process.js'
import { JSON_HEADERS, TASK_BODY } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

export const nodeBench: Benchmark = {
  name: 'node task',
  pkg: '@iicp/node',
  async run(ctx) {
    const [bare, node] = await Promise.all([spawnServer('bare-echo'), spawnServer('echo-node')])
    try {
      const rows: BenchRow[] = []
      const rssIdle = { bare: rssMiB(bare.pid), node: rssMiB(node.pid) }
      for (const connections of [16, 64]) {
        const spec = (url: string) => ({ url: `${url}/v1/task`, method: 'POST' as const, body: TASK_BODY, headers: JSON_HEADERS, connections, durationMs: ctx.roundMs })
        // One unmeasured warm-up round each, so JIT tiering is not charged to whoever goes first.
        await interleavedLoad([{ label: 'bare', spec: { ...spec(bare.info.url), durationMs: Math.min(1000, ctx.roundMs) } }, { label: 'node', spec: { ...spec(node.info.url), durationMs: Math.min(1000, ctx.roundMs) } }], 1)
        const [b, n] = await interleavedLoad([
          { label: 'bare', spec: spec(bare.info.url), pid: bare.pid },
          { label: 'node', spec: spec(node.info.url), pid: node.pid },
        ], ctx.rounds)
        const cand = { label: 'IicpNode', opsPerSec: n!.rps, p50Ms: n!.p50, p99Ms: n!.p99, cpuMsPerOp: n!.cpuMsPerReq }
        const base = { label: 'bare node:http', opsPerSec: b!.rps, p50Ms: b!.p50, p99Ms: b!.p99, cpuMsPerOp: b!.cpuMsPerReq }
        rows.push({ name: 'node task', metric: `req/s @${connections}`, candidate: cand, baseline: base, value: n!.rps / b!.rps, target: { op: '>=', value: 0.85, on: 'ratio' } })
        if (n!.cpuMsPerReq !== undefined && b!.cpuMsPerReq !== undefined) {
          rows.push({ name: 'node task', metric: `CPU per request @${connections}`, candidate: cand, baseline: base, value: n!.cpuMsPerReq / b!.cpuMsPerReq, target: { op: '<=', value: 1.2, on: 'ratio' } })
        }
      }
      const rssLoaded = { bare: rssMiB(bare.pid), node: rssMiB(node.pid) }
      rows.push({
        name: 'node task', metric: 'RSS above bare (after load)',
        candidate: { label: 'IicpNode', rssMiB: rssLoaded.node }, baseline: { label: 'bare node:http', rssMiB: rssLoaded.bare },
        value: rssLoaded.node - rssLoaded.bare, target: { op: '<=', value: 25, on: 'absolute', unit: 'MiB' },
        notes: `idle: node ${rssIdle.node.toFixed(1)} MiB, bare ${rssIdle.bare.toFixed(1)} MiB`,
      })
      return rows
    } finally {
      await Promise.all([bare.close(), node.close()])
    }
  },
}
