/**
 * @iicp/client: submit() beside a raw undici request() that puts the same task on the wire, to the same echo node,
 * in one run. "Same" means what the node sees and has to do: the headers the SDK sends on a task call
 * (`accept`, `x-iicp-version`, a fresh `traceparent`; wire.md §10 step 5) and the same body fields (`trace.trace_id`
 * included, which the node answers with `x-iicp-trace-id`), over an Agent with the client's own keep-alive
 * settings, pipelining 1. The client's route is pinned (`node`), so no discover trip is measured.
 *
 * Both sides run in one bundled plain-node child (client-sampler.ts), as the package ships. Latency is sampled in
 * pairs: calls alternate raw / submit / minimal, the leader rotating every call, so each sees the same moments of
 * this shared 2-core machine; the ratio is taken per round, then the median of rounds. Throughput at 16 in flight
 * alternates in short slices for the same reason. A second p50 row compares against a minimal request (no protocol
 * headers, no trace field), showing what the protocol's own wire fields cost on both ends; it has no target.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LatencyResult } from '../harness/latency.js'
import { bundle, spawnServer } from '../harness/process.js'
import { median } from '../harness/stats.js'
import type { Benchmark, BenchRow } from '../harness/types.js'
import type { ClientSamples } from './client-sampler.js'

async function sample(nodeUrl: string, rounds: number, durationMs: number): Promise<ClientSamples> {
  const file = await bundle('client-sampler', fileURLToPath(new URL('./client-sampler.ts', import.meta.url)))
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [file, nodeUrl, String(rounds), String(durationMs)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    child.stdout.on('data', (d: Buffer) => (buf += d.toString()))
    child.once('exit', (code) => (code === 0 ? resolve(buf) : reject(new Error(`client sampler exited ${code}`))))
  })
  return JSON.parse(out) as ClientSamples
}

export const clientBench: Benchmark = {
  name: 'client submit',
  pkg: '@iicp/client',
  async run(ctx) {
    const node = await spawnServer('echo-node')
    try {
      const durationMs = ctx.quick ? 300 : Math.max(1500, ctx.roundMs / 2)
      const { seq, par } = await sample(node.info.url, ctx.rounds, durationMs)
      const m = (xs: LatencyResult[], k: keyof LatencyResult): number => median(xs.map((x) => x[k]))
      const perRound = (a: LatencyResult[], b: LatencyResult[], k: 'p50Ms' | 'p99Ms'): number => median(a.map((x, i) => x[k] / (b[i] as LatencyResult)[k]))
      const cand = { label: 'client.submit()', opsPerSec: m(seq.sdk, 'opsPerSec'), p50Ms: m(seq.sdk, 'p50Ms'), p99Ms: m(seq.sdk, 'p99Ms') }
      const base = { label: 'undici request(), same request', opsPerSec: m(seq.raw, 'opsPerSec'), p50Ms: m(seq.raw, 'p50Ms'), p99Ms: m(seq.raw, 'p99Ms') }
      const least = { label: 'undici request(), minimal request', opsPerSec: m(seq.min, 'opsPerSec'), p50Ms: m(seq.min, 'p50Ms'), p99Ms: m(seq.min, 'p99Ms') }
      const rows: BenchRow[] = [
        { name: 'client submit', metric: 'p50 latency, 1 in flight', candidate: cand, baseline: base, value: perRound(seq.sdk, seq.raw, 'p50Ms'), target: { op: '<=', value: 1.15, on: 'ratio' } },
        { name: 'client submit', metric: 'p99 latency, 1 in flight', candidate: cand, baseline: base, value: perRound(seq.sdk, seq.raw, 'p99Ms') },
        {
          name: 'client submit', metric: 'p50 latency, 1 in flight, vs a minimal request', candidate: cand, baseline: least, value: perRound(seq.sdk, seq.min, 'p50Ms'),
          notes: 'the minimal request omits the protocol headers and trace.trace_id; the gap is their cost on both ends',
        },
        {
          name: 'client submit', metric: 'ops/s, 16 in flight',
          candidate: { label: 'client.submit()', opsPerSec: m(par.sdk, 'opsPerSec'), p50Ms: m(par.sdk, 'p50Ms') },
          baseline: { label: 'undici request(), same request', opsPerSec: m(par.raw, 'opsPerSec'), p50Ms: m(par.raw, 'p50Ms') },
          value: m(par.sdk, 'opsPerSec') / m(par.raw, 'opsPerSec'),
        },
      ]
      return rows
    } finally {
      await node.close()
    }
  },
}
