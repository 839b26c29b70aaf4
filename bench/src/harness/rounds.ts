/** Interleaved rounds: run each contender once per round, in turn, and keep the median of each. */
import { median } from './stats.js'
import { runLoad, type LoadResult, type LoadSpec } from './load.js'

export interface Contender {
  readonly label: string
  readonly spec: LoadSpec
  readonly pid?: number
}

export interface RoundsResult {
  rps: number
  p50: number
  p99: number
  cpuMsPerReq: number | undefined
}

export async function interleavedLoad(contenders: readonly Contender[], rounds: number): Promise<RoundsResult[]> {
  const samples: LoadResult[][] = contenders.map(() => [])
  for (let r = 0; r < rounds; r++) {
    // Alternate the order each round so neither side always runs on a warmer machine.
    const order = r % 2 === 0 ? contenders.map((_, i) => i) : contenders.map((_, i) => contenders.length - 1 - i)
    for (const i of order) {
      const c = contenders[i]!
      samples[i]!.push(await runLoad(c.spec, c.pid))
    }
  }
  return samples.map((s) => ({
    rps: median(s.map((x) => x.rps)),
    p50: median(s.map((x) => x.p50)),
    p99: median(s.map((x) => x.p99)),
    cpuMsPerReq: s.every((x) => x.cpuMsPerReq !== undefined) ? median(s.map((x) => x.cpuMsPerReq!)) : undefined,
  }))
}
