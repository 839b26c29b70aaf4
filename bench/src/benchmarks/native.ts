/**
 * Native transport (issue #11): the same task over the node's native framing and over HTTP, in one run;
 * a relay hop over the native TCP worker beside WebSocket and direct (contenders alternate their order each round;
 * throughput in many short paired slices); and the time to the first streamed chunk.
 */
import { Agent } from 'undici'
import { IicpClient } from '@iicp/client'
import { measureLatency, type LatencyResult } from '../harness/latency.js'
import { cpuMs, spawnServer } from '../harness/process.js'
import { median } from '../harness/stats.js'
import { CHAT_INTENT, JSON_HEADERS, TASK_BODY, TASK_PAYLOAD } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

const m = (xs: LatencyResult[], k: keyof LatencyResult): number => median(xs.map((x) => x[k]))

/** One load round through one hop: throughput, and the CPU the serving processes spent per task. */
interface HopLoad {
  rps: number
  cpuPerTask: number
}

export const nativeBench: Benchmark = {
  name: 'native transport',
  pkg: '@iicp/node',
  async run(ctx) {
    const relay = await spawnServer('relay')
    const [node, streamer, wsWorker, tcpWorker] = await Promise.all([
      spawnServer('echo-node'),
      spawnServer('stream-node'),
      spawnServer('echo-node', ['--relay', relay.info.url, '--transport', 'ws']),
      spawnServer('echo-node', ['--relay', String(relay.info.tcp), '--transport', 'tcp']),
    ])
    const port = new URL(node.info.url).port
    const target = { node_id: 'echo', endpoint: node.info.url, transport_endpoint: `iicp://127.0.0.1:${port}`, score: 1, available: true, capabilities: [{ intent: CHAT_INTENT }] }
    const httpClient = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, transport: 'http' })
    const nativeClient = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, transport: 'native' })
    const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 })
    const durationMs = ctx.quick ? 300 : Math.max(1500, ctx.roundMs / 2)
    try {
      const seq = { http: [] as LatencyResult[], native: [] as LatencyResult[] }
      const par = { http: [] as LatencyResult[], native: [] as LatencyResult[] }
      const run = (c: IicpClient) => () => c.submit(CHAT_INTENT, TASK_PAYLOAD, { node: target })
      for (let r = 0; r < ctx.rounds; r++) {
        const order = r % 2 === 0 ? (['http', 'native'] as const) : (['native', 'http'] as const)
        for (const k of order) seq[k].push(await measureLatency(run(k === 'http' ? httpClient : nativeClient), { durationMs, warmup: 300 }))
        for (const k of order) par[k].push(await measureLatency(run(k === 'http' ? httpClient : nativeClient), { durationMs, warmup: 50, concurrency: 16 }))
      }
      const rows: BenchRow[] = [
        {
          name: 'native transport', metric: 'task round trip p50, 1 in flight',
          candidate: { label: 'submit() native', p50Ms: m(seq.native, 'p50Ms'), p99Ms: m(seq.native, 'p99Ms') },
          baseline: { label: 'submit() HTTP', p50Ms: m(seq.http, 'p50Ms'), p99Ms: m(seq.http, 'p99Ms') },
          value: m(seq.native, 'p50Ms') / m(seq.http, 'p50Ms'),
        },
        {
          name: 'native transport', metric: 'tasks/s, 16 in flight',
          candidate: { label: 'submit() native', opsPerSec: m(par.native, 'opsPerSec') },
          baseline: { label: 'submit() HTTP', opsPerSec: m(par.http, 'opsPerSec') },
          value: m(par.native, 'opsPerSec') / m(par.http, 'opsPerSec'),
        },
      ]

      // Relay hop: direct vs WebSocket worker vs native TCP worker, same consumer HTTP call. Load from other
      // processes on a shared machine comes and goes within seconds, so throughput is taken in many short slices
      // whose order alternates each round (no contender always runs first or on a busier machine), after a warm-up
      // slice each; a relay's ratio is taken against the direct slice of the same round, then the median over rounds.
      const once = (url: string) => async (): Promise<void> => {
        const u = new URL(url)
        const res = await agent.request({ origin: u.origin, path: u.pathname, method: 'POST', headers: JSON_HEADERS, body: TASK_BODY })
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url}`)
      }
      const urls = { direct: `${node.info.url}/v1/task`, ws: `${String(wsWorker.info.relayEndpoint)}/v1/task`, tcp: `${String(tcpWorker.info.relayEndpoint)}/v1/task` }
      const pids = { direct: [node.pid], ws: [relay.pid, wsWorker.pid], tcp: [relay.pid, tcpWorker.pid] }
      const hopOrder = ['direct', 'ws', 'tcp'] as const
      type Hop = (typeof hopOrder)[number]
      const ordered = (r: number): readonly Hop[] => (r % 2 === 0 ? hopOrder : [...hopOrder].reverse())
      const hop = { direct: [] as LatencyResult[], ws: [] as LatencyResult[], tcp: [] as LatencyResult[] }
      for (let r = 0; r < ctx.rounds; r++) {
        for (const k of ordered(r)) hop[k].push(await measureLatency(once(urls[k]), { durationMs, warmup: 200 }))
      }
      const slices = ctx.quick ? 1 : ctx.rounds * 8
      const sliceMs = ctx.quick ? 300 : Math.max(500, ctx.roundMs / 8)
      const slice = async (k: Hop, ms: number): Promise<HopLoad> => {
        const before = pids[k].reduce((s, pid) => s + cpuMs(pid), 0)
        const res = await measureLatency(once(urls[k]), { durationMs: ms, warmup: 0, concurrency: 16 })
        const spent = pids[k].reduce((s, pid) => s + cpuMs(pid), 0) - before
        return { rps: res.opsPerSec, cpuPerTask: res.samples > 0 ? spent / res.samples : Number.NaN }
      }
      for (const k of hopOrder) await slice(k, ctx.quick ? 200 : 1000)
      const hop16 = { direct: [] as HopLoad[], ws: [] as HopLoad[], tcp: [] as HopLoad[] }
      for (let r = 0; r < slices; r++) {
        for (const k of ordered(r)) hop16[k].push(await slice(k, sliceMs))
      }
      for (const k of hopOrder) ctx.log(`  ${k}: ${hop16[k].map((x) => Math.round(x.rps)).join(' ')} tasks/s @16 per slice`)
      const rps = (k: Hop): number => median(hop16[k].map((x) => x.rps))
      const cpu = (k: Hop): number => median(hop16[k].map((x) => x.cpuPerTask))
      const direct = { label: 'direct', p50Ms: m(hop.direct, 'p50Ms'), opsPerSec: rps('direct'), cpuMsPerOp: cpu('direct') }
      for (const k of ['tcp', 'ws'] as const) {
        const label = k === 'tcp' ? 'relay (native TCP worker)' : 'relay (WebSocket worker)'
        const paired = median(hop16[k].map((x, i) => x.rps / (hop16.direct[i] as HopLoad).rps))
        rows.push({ name: 'native transport', metric: `relay hop added p50 ms (${k})`, candidate: { label, p50Ms: m(hop[k], 'p50Ms'), p99Ms: m(hop[k], 'p99Ms') }, baseline: direct, value: m(hop[k], 'p50Ms') - direct.p50Ms, target: { op: '<=', value: 0.3, on: 'absolute', unit: 'ms' } })
        rows.push({
          name: 'native transport', metric: `relay tasks/s @16 vs direct (${k})`, candidate: { label, opsPerSec: rps(k), cpuMsPerOp: cpu(k) }, baseline: direct,
          value: paired, target: { op: '>=', value: 0.4, on: 'ratio' },
          notes: `median over ${slices} alternating slices of the ratio to direct in the same slice round; cpu-ms/op: relay plus worker process (candidate), the node process (baseline)`,
        })
      }

      // Time to the first streamed chunk vs the whole answer (5 chunks, 20 ms apart after the first).
      const streamTarget = { node_id: 'streamer', endpoint: streamer.info.url, transport_endpoint: String(streamer.info.transportEndpoint), score: 1, available: true, capabilities: [{ intent: CHAT_INTENT }] }
      const first: number[] = []
      const whole: number[] = []
      for (let i = 0; i < (ctx.quick ? 5 : 30); i++) {
        const t0 = performance.now()
        let t1 = 0
        for await (const _chunk of nativeClient.chatStream(TASK_PAYLOAD.messages, { node: streamTarget })) {
          if (t1 === 0) t1 = performance.now()
        }
        first.push(t1 - t0)
        whole.push(performance.now() - t0)
      }
      rows.push({
        name: 'native transport', metric: 'time to first streamed chunk',
        candidate: { label: 'chatStream() first chunk', p50Ms: median(first) }, baseline: { label: 'whole streamed answer', p50Ms: median(whole) },
        value: median(first) / median(whole), notes: 'the handler pauses 20 ms between chunks; the first is immediate',
      })
      return rows
    } finally {
      await Promise.all([httpClient.close(), nativeClient.close(), agent.close()])
      await Promise.all([node.close(), streamer.close(), wsWorker.close(), tcpWorker.close()])
      await relay.close()
    }
  },
}
