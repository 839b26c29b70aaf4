/** What a benchmark measures and reports. */
export interface Measure {
  readonly label: string
  readonly opsPerSec?: number
  readonly p50Ms?: number
  readonly p99Ms?: number
  /**
   * Smallest latency step the measuring tool resolves, when coarser than the report's default 3 decimals: autocannon's
   * histogram records whole milliseconds, so its p50/p99 are printed as whole ms (`<1` for 0) instead of `0.000`.
   */
  readonly latencyResolutionMs?: number
  /** CPU milliseconds the server process spent per request. */
  readonly cpuMsPerOp?: number
  readonly rssMiB?: number
}

/** A target from bench/README.md's targets table, checked against `ratio` (candidate ÷ baseline) or an absolute value. */
export interface Target {
  readonly op: '>=' | '<='
  readonly value: number
  /** What is compared: the ratio, or an absolute number in the unit named here. */
  readonly on: 'ratio' | 'absolute'
  readonly unit?: string
}

export interface BenchRow {
  readonly name: string
  /** What the ratio/value measures, e.g. "req/s @16", "p50", "cpu/req", "rss". */
  readonly metric: string
  readonly candidate: Measure
  readonly baseline?: Measure
  /** candidate ÷ baseline on `metric` (or the absolute value when there is no baseline). */
  readonly value: number
  readonly target?: Target
  readonly notes?: string
}

export interface BenchContext {
  /** Short runs for smoke checks. */
  readonly quick: boolean
  /** How many interleaved rounds to take the median over. */
  readonly rounds: number
  /** Duration of one load round in ms. */
  readonly roundMs: number
  log(msg: string): void
}

export interface Benchmark {
  readonly name: string
  /** Which package registered it. */
  readonly pkg: string
  run(ctx: BenchContext): Promise<BenchRow[]>
}

export function passes(row: BenchRow): boolean | undefined {
  if (!row.target) return undefined
  return row.target.op === '>=' ? row.value >= row.target.value : row.value <= row.target.value
}
