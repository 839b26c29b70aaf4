/** Sequential latency sampling of an async operation in this process. */
import { percentile } from './stats.js'

export interface LatencyResult {
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  samples: number
}

/** Run `op` sequentially (or with `concurrency` workers) for `durationMs` after `warmup` calls. */
export async function measureLatency(op: () => Promise<unknown>, opts: { durationMs: number; warmup?: number; concurrency?: number }): Promise<LatencyResult> {
  for (let i = 0; i < (opts.warmup ?? 200); i++) await op()
  const samples: number[] = []
  const start = performance.now()
  const end = start + opts.durationMs
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now()
      await op()
      samples.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 1 }, worker))
  const elapsed = performance.now() - start
  samples.sort((a, b) => a - b)
  return { opsPerSec: (samples.length / elapsed) * 1000, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), samples: samples.length }
}
