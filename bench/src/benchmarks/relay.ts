/**
 * @iicp/relay: the same task direct to a node and through a relay over each worker transport (WebSocket, native
 * TCP, HTTP long-poll), in one run. Rounds interleave the contenders; each reports the median, plus the CPU the
 * relay and worker processes spent per task, which is steadier than throughput on a shared machine.
 */
import { Agent } from 'undici'
import { measureLatency, type LatencyResult } from '../harness/latency.js'
import { runLoad, type LoadResult } from '../harness/load.js'
import { cpuMs, spawnServer, type ServerProcess } from '../harness/process.js'
import { median } from '../harness/stats.js'
import { JSON_HEADERS, TASK_BODY } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

const TRANSPORTS = ['ws', 'tcp', 'http'] as const
type Contender = 'direct' | (typeof TRANSPORTS)[number]
const LABELS: Record<(typeof TRANSPORTS)[number], string> = {
  ws: 'relay (WebSocket worker)', tcp: 'relay (native TCP worker)', http: 'relay (long-poll worker)',
}

interface Round extends LoadResult {
  /** CPU ms per task of the processes that served it (the node; or relay plus worker). */
  cpuPerTask: number
}

export const relayBench: Benchmark = {
  name: 'relay hop',
  pkg: '@iicp/relay',
  async run(ctx) {
    const relay = await spawnServer('relay')
    const [direct, ws, tcp, http] = await Promise.all([
      spawnServer('echo-node'),
      spawnServer('echo-node', ['--relay', relay.info.url, '--transport', 'ws']),
      spawnServer('echo-node', ['--relay', String(relay.info.tcp), '--transport', 'tcp']),
      spawnServer('echo-node', ['--relay', relay.info.url, '--transport', 'http']),
    ])
    const servers: Record<Contender, ServerProcess> = { direct, ws, tcp, http }
    const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 })
    try {
      const targets: Record<Contender, URL> = {
        direct: new URL(`${direct.info.url}/v1/task`),
        ws: new URL(`${String(ws.info.relayEndpoint)}/v1/task`),
        tcp: new URL(`${String(tcp.info.relayEndpoint)}/v1/task`),
        http: new URL(`${String(http.info.relayEndpoint)}/v1/task`),
      }
      const once = (url: URL) => async (): Promise<void> => {
        const res = await agent.request({ origin: url.origin, path: url.pathname, method: 'POST', headers: JSON_HEADERS, body: TASK_BODY })
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url.href}`)
      }
      const contenders: Contender[] = ['direct', ...TRANSPORTS]
      const lat = Object.fromEntries(contenders.map((k) => [k, [] as LatencyResult[]])) as Record<Contender, LatencyResult[]>
      const load = Object.fromEntries(contenders.map((k) => [k, [] as Round[]])) as Record<Contender, Round[]>
      const durationMs = ctx.quick ? 300 : Math.max(1500, ctx.roundMs / 2)
      for (let r = 0; r < ctx.rounds; r++) {
        // Alternate the order each round so no contender always runs on a warmer (or busier) machine.
        const order = r % 2 === 0 ? contenders : [...contenders].reverse()
        for (const k of order) lat[k].push(await measureLatency(once(targets[k]), { durationMs, warmup: 200 }))
        for (const k of order) {
          const pids = k === 'direct' ? [direct.pid] : [relay.pid, servers[k].pid]
          const before = pids.reduce((s, pid) => s + cpuMs(pid), 0)
          const res = await runLoad({ url: targets[k].href, method: 'POST', body: TASK_BODY, headers: JSON_HEADERS, connections: 16, durationMs: ctx.roundMs })
          const spent = pids.reduce((s, pid) => s + cpuMs(pid), 0) - before
          load[k].push({ ...res, cpuPerTask: res.total > 0 ? spent / res.total : Number.NaN })
          ctx.log(`  round ${r + 1} ${k}: ${Math.round(res.rps)} req/s @16`)
        }
      }
      const p50 = (k: Contender): number => median(lat[k].map((x) => x.p50Ms))
      const p99 = (k: Contender): number => median(lat[k].map((x) => x.p99Ms))
      const rps = (k: Contender): number => median(load[k].map((x) => x.rps))
      const cpu = (k: Contender): number => median(load[k].map((x) => x.cpuPerTask))
      const base = { label: 'direct', p50Ms: p50('direct'), p99Ms: p99('direct'), opsPerSec: rps('direct'), cpuMsPerOp: cpu('direct') }
      const rows: BenchRow[] = []
      for (const k of TRANSPORTS) {
        rows.push({
          name: 'relay hop', metric: `added p50 ms, 1 in flight (${k})`, candidate: { label: LABELS[k], p50Ms: p50(k), p99Ms: p99(k) },
          baseline: base, value: p50(k) - p50('direct'), target: { op: '<=', value: 0.3, on: 'absolute', unit: 'ms' },
        })
        rows.push({
          name: 'relay hop', metric: `req/s @16 vs direct (${k})`,
          candidate: { label: LABELS[k], opsPerSec: rps(k), p50Ms: median(load[k].map((x) => x.p50)), cpuMsPerOp: cpu(k) },
          baseline: base, value: rps(k) / rps('direct'), target: { op: '>=', value: 0.4, on: 'ratio' },
          notes: 'cpu-ms/op: relay plus worker process (candidate), the node process (baseline)',
        })
      }
      return rows
    } finally {
      await agent.close()
      await Promise.all([direct.close(), ws.close(), tcp.close(), http.close()])
      await relay.close()
    }
  },
}
