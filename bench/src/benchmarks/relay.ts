/** @iicp/relay: the same task direct to a node and through a relay (WebSocket and long-poll workers), in one run. */
import { Agent } from 'undici'
import { measureLatency, type LatencyResult } from '../harness/latency.js'
import { interleavedLoad } from '../harness/rounds.js'
import { spawnServer } from '../harness/process.js'
import { median } from '../harness/stats.js'
import { JSON_HEADERS, TASK_BODY } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

export const relayBench: Benchmark = {
  name: 'relay hop',
  pkg: '@iicp/relay',
  async run(ctx) {
    const relay = await spawnServer('relay')
    const [direct, wsWorker, httpWorker] = await Promise.all([
      spawnServer('echo-node'),
      spawnServer('echo-node', ['--relay', relay.info.url, '--transport', 'ws']),
      spawnServer('echo-node', ['--relay', relay.info.url, '--transport', 'http']),
    ])
    const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 })
    try {
      const targets = {
        direct: `${direct.info.url}/v1/task`,
        ws: `${String(wsWorker.info.relayEndpoint)}/v1/task`,
        http: `${String(httpWorker.info.relayEndpoint)}/v1/task`,
      }
      const once = (url: string) => async (): Promise<void> => {
        const res = await agent.request({ origin: new URL(url).origin, path: new URL(url).pathname, method: 'POST', headers: JSON_HEADERS, body: TASK_BODY })
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url}`)
      }
      const lat: Record<keyof typeof targets, LatencyResult[]> = { direct: [], ws: [], http: [] }
      const durationMs = ctx.quick ? 300 : Math.max(1500, ctx.roundMs / 2)
      for (let r = 0; r < ctx.rounds; r++) {
        for (const k of ['direct', 'ws', 'http'] as const) lat[k].push(await measureLatency(once(targets[k]), { durationMs, warmup: 200 }))
      }
      const spec = (url: string) => ({ url, method: 'POST' as const, body: TASK_BODY, headers: JSON_HEADERS, connections: 16, durationMs: ctx.roundMs })
      const [d, w, h] = await interleavedLoad([
        { label: 'direct', spec: spec(targets.direct) },
        { label: 'ws', spec: spec(targets.ws) },
        { label: 'http', spec: spec(targets.http) },
      ], ctx.rounds)
      const p50 = (k: keyof typeof targets): number => median(lat[k].map((x) => x.p50Ms))
      const p99 = (k: keyof typeof targets): number => median(lat[k].map((x) => x.p99Ms))
      const base = { label: 'direct', p50Ms: p50('direct'), p99Ms: p99('direct'), opsPerSec: d!.rps }
      const rows: BenchRow[] = []
      for (const [k, load] of [['ws', w!], ['http', h!]] as const) {
        const label = k === 'ws' ? 'relay (WebSocket worker)' : 'relay (long-poll worker)'
        rows.push({ name: 'relay hop', metric: `added p50 ms, 1 in flight (${k})`, candidate: { label, p50Ms: p50(k), p99Ms: p99(k) }, baseline: base, value: p50(k) - p50('direct'), target: { op: '<=', value: 0.3, on: 'absolute', unit: 'ms' } })
        rows.push({ name: 'relay hop', metric: `req/s @16 vs direct (${k})`, candidate: { label, opsPerSec: load.rps, p50Ms: load.p50 }, baseline: base, value: load.rps / d!.rps, target: { op: '>=', value: 0.4, on: 'ratio' } })
      }
      return rows
    } finally {
      await agent.close()
      await Promise.all([direct.close(), wsWorker.close(), httpWorker.close()])
      await relay.close()
    }
  },
}
