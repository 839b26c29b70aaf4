/**
 * @iicp/node: POST /v1/task through IicpNode beside a bare node:http JSON echo, at 16 and 64 connections, plus
 * latency with 1 in flight. autocannon reports latency in whole milliseconds, so its p50/p99 on loopback read 1 ms
 * for both sides; the 1-in-flight rows time each request with performance.now() in this process instead.
 */
import { Agent } from 'undici'
import { measureLatency, type LatencyResult } from '../harness/latency.js'
import { interleavedLoad } from '../harness/rounds.js'
import { rssMiB, spawnServer } from '../harness/process.js'
import { median } from '../harness/stats.js'
import { JSON_HEADERS, TASK_BODY } from '../harness/task-body.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

// IicpClient sends a traceparent with every attempt and the node answers it with x-iicp-trace-id: that is the
// path to measure. The bare echo gets the same bytes and ignores the header.
const TASK_HEADERS = { ...JSON_HEADERS, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }

export const nodeBench: Benchmark = {
  name: 'node task',
  pkg: '@iicp/node',
  async run(ctx) {
    const [bare, node] = await Promise.all([spawnServer('bare-echo'), spawnServer('echo-node')])
    try {
      const rows: BenchRow[] = []
      const rssIdle = { bare: rssMiB(bare.pid), node: rssMiB(node.pid) }
      rows.push(...await sequentialLatency(bare.info.url, node.info.url, ctx.rounds, ctx.quick ? 300 : Math.max(1000, ctx.roundMs / 2)))
      for (const connections of [16, 64]) {
        const spec = (url: string) => ({ url: `${url}/v1/task`, method: 'POST' as const, body: TASK_BODY, headers: TASK_HEADERS, connections, durationMs: ctx.roundMs })
        // One unmeasured warm-up round each, so JIT tiering is not charged to whoever goes first.
        await interleavedLoad([{ label: 'bare', spec: { ...spec(bare.info.url), durationMs: Math.min(1000, ctx.roundMs) } }, { label: 'node', spec: { ...spec(node.info.url), durationMs: Math.min(1000, ctx.roundMs) } }], 1)
        const [b, n] = await interleavedLoad([
          { label: 'bare', spec: spec(bare.info.url), pid: bare.pid },
          { label: 'node', spec: spec(node.info.url), pid: node.pid },
        ], ctx.rounds)
        // autocannon's latencies are whole ms: printed as such, not as 1.000.
        const cand = { label: 'IicpNode', opsPerSec: n!.rps, p50Ms: n!.p50, p99Ms: n!.p99, cpuMsPerOp: n!.cpuMsPerReq, latencyResolutionMs: 1 }
        const base = { label: 'bare node:http', opsPerSec: b!.rps, p50Ms: b!.p50, p99Ms: b!.p99, cpuMsPerOp: b!.cpuMsPerReq, latencyResolutionMs: 1 }
        rows.push({
          name: 'node task', metric: `req/s @${connections}`, candidate: cand, baseline: base, value: n!.rps / b!.rps, target: { op: '>=', value: 0.85, on: 'ratio' },
          notes: 'p50/p99 here are autocannon\'s, in whole ms; see the 1-in-flight rows for sub-ms latency',
        })
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

/**
 * p50 and p99 with one request in flight, each request timed on its own (sub-ms). Rounds alternate which server
 * goes first; the ratio is taken per round, then the median of rounds, so both see the same machine moments.
 */
async function sequentialLatency(bareUrl: string, nodeUrl: string, rounds: number, durationMs: number): Promise<BenchRow[]> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 })
  const once = (base: string) => {
    const url = new URL(`${base}/v1/task`)
    return async (): Promise<void> => {
      const res = await agent.request({ origin: url.origin, path: url.pathname, method: 'POST', headers: TASK_HEADERS, body: TASK_BODY })
      if (res.statusCode !== 200) throw new Error(`${url.href} answered ${res.statusCode}`)
      await res.body.dump()
    }
  }
  const ops = { bare: once(bareUrl), node: once(nodeUrl) }
  const lat: { bare: LatencyResult[]; node: LatencyResult[] } = { bare: [], node: [] }
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['bare', 'node'] as const) : (['node', 'bare'] as const)
      for (const k of order) lat[k].push(await measureLatency(ops[k], { durationMs, warmup: 200 }))
    }
  } finally {
    await agent.close()
  }
  const m = (xs: LatencyResult[], k: 'p50Ms' | 'p99Ms' | 'opsPerSec'): number => median(xs.map((x) => x[k]))
  const perRound = (k: 'p50Ms' | 'p99Ms'): number => median(lat.node.map((x, i) => x[k] / (lat.bare[i] as LatencyResult)[k]))
  const cand = { label: 'IicpNode', opsPerSec: m(lat.node, 'opsPerSec'), p50Ms: m(lat.node, 'p50Ms'), p99Ms: m(lat.node, 'p99Ms') }
  const base = { label: 'bare node:http', opsPerSec: m(lat.bare, 'opsPerSec'), p50Ms: m(lat.bare, 'p50Ms'), p99Ms: m(lat.bare, 'p99Ms') }
  const notes = `undici, 1 connection, each request timed with performance.now(); median of ${rounds} interleaved rounds of ${durationMs} ms`
  return [
    { name: 'node task', metric: 'p50 latency, 1 in flight', candidate: cand, baseline: base, value: perRound('p50Ms'), notes },
    { name: 'node task', metric: 'p99 latency, 1 in flight', candidate: cand, baseline: base, value: perRound('p99Ms'), notes },
  ]
}
