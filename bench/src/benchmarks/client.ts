/** @iicp/client: submit() beside a raw undici request of the same body to the same echo node, in one run. */
import { randomUUID } from 'node:crypto'
import { Agent } from 'undici'
import { IicpClient } from '@iicp/client'
import { measureLatency, type LatencyResult } from '../harness/latency.js'
import { spawnServer } from '../harness/process.js'
import { median } from '../harness/stats.js'
import { CHAT_INTENT, TASK_PAYLOAD } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

export const clientBench: Benchmark = {
  name: 'client submit',
  pkg: '@iicp/client',
  async run(ctx) {
    const node = await spawnServer('echo-node')
    const agent = new Agent({ keepAliveTimeout: 30_000 })
    const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true })
    // One node object reused on every call, as an application holding a selected route would.
    const target = { node_id: 'echo', endpoint: node.info.url, score: 1, available: true, capabilities: [{ intent: CHAT_INTENT }] }
    const url = new URL(node.info.url)
    const raw = async (): Promise<unknown> => {
      const res = await agent.request({
        origin: url.origin, path: '/v1/task', method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task_id: randomUUID(), intent: CHAT_INTENT, payload: TASK_PAYLOAD, constraints: { timeout_ms: 30000 } }),
      })
      const json = JSON.parse(await res.body.text()) as { status: string }
      if (res.statusCode !== 200 || json.status !== 'success') throw new Error(`raw request failed: ${res.statusCode}`)
      return json
    }
    const submit = (): Promise<unknown> => client.submit(CHAT_INTENT, TASK_PAYLOAD, { node: target })
    try {
      const durationMs = ctx.quick ? 300 : Math.max(1500, ctx.roundMs / 2)
      const seq: { raw: LatencyResult[]; sdk: LatencyResult[] } = { raw: [], sdk: [] }
      const par: { raw: LatencyResult[]; sdk: LatencyResult[] } = { raw: [], sdk: [] }
      for (let r = 0; r < ctx.rounds; r++) {
        const order = r % 2 === 0 ? (['raw', 'sdk'] as const) : (['sdk', 'raw'] as const)
        for (const who of order) seq[who].push(await measureLatency(who === 'raw' ? raw : submit, { durationMs, warmup: 300 }))
        for (const who of order) par[who].push(await measureLatency(who === 'raw' ? raw : submit, { durationMs, warmup: 50, concurrency: 16 }))
      }
      const m = (xs: LatencyResult[], k: keyof LatencyResult): number => median(xs.map((x) => x[k]))
      const cand = { label: 'client.submit()', opsPerSec: m(seq.sdk, 'opsPerSec'), p50Ms: m(seq.sdk, 'p50Ms'), p99Ms: m(seq.sdk, 'p99Ms') }
      const base = { label: 'undici request()', opsPerSec: m(seq.raw, 'opsPerSec'), p50Ms: m(seq.raw, 'p50Ms'), p99Ms: m(seq.raw, 'p99Ms') }
      const rows: BenchRow[] = [
        { name: 'client submit', metric: 'p50 latency, 1 in flight', candidate: cand, baseline: base, value: cand.p50Ms / base.p50Ms, target: { op: '<=', value: 1.15, on: 'ratio' } },
        { name: 'client submit', metric: 'p99 latency, 1 in flight', candidate: cand, baseline: base, value: cand.p99Ms / base.p99Ms },
        {
          name: 'client submit', metric: 'ops/s, 16 in flight',
          candidate: { label: 'client.submit()', opsPerSec: m(par.sdk, 'opsPerSec'), p50Ms: m(par.sdk, 'p50Ms') },
          baseline: { label: 'undici request()', opsPerSec: m(par.raw, 'opsPerSec'), p50Ms: m(par.raw, 'p50Ms') },
          value: m(par.sdk, 'opsPerSec') / m(par.raw, 'opsPerSec'),
        },
      ]
      return rows
    } finally {
      await client.close()
      await agent.close()
      await node.close()
    }
  },
}
