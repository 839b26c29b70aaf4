/**
 * `pnpm bench [--quick] [--only <selectors>] [--rounds N] [--round-ms MS]`: runs each benchmark's candidate
 * beside its baseline in the same run, interleaving rounds and reporting medians, then prints a markdown table
 * and writes bench/results/latest.json (and a timestamped copy). `--only` takes packages or whole leading
 * words of benchmark names, comma-separated (harness/select.ts); one that picks nothing exits 2.
 */
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import { benchmarks } from './benchmarks/index.js'
import { markdownTable, writeJson } from './harness/report.js'
import type { BenchContext, BenchRow, Benchmark } from './harness/types.js'
import { passes } from './harness/types.js'
import { UnknownBenchmarkError, selectBenchmarks } from './harness/select.js'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const quick = process.argv.includes('--quick')
const only = arg('--only')
const ctx: BenchContext = {
  quick,
  rounds: Number(arg('--rounds') ?? (quick ? 1 : 3)),
  roundMs: Number(arg('--round-ms') ?? (quick ? 500 : 4000)),
  log: (msg) => process.stderr.write(`${msg}\n`),
}

let selected: Benchmark[]
try {
  selected = selectBenchmarks(benchmarks, only)
} catch (err) {
  if (!(err instanceof UnknownBenchmarkError)) throw err
  process.stderr.write(`${err.message}\n`)
  process.exit(2)
}

const rows: BenchRow[] = []
for (const b of selected) {
  ctx.log(`▶ ${b.pkg} · ${b.name}`)
  try {
    rows.push(...(await b.run(ctx)))
  } catch (err) {
    ctx.log(`✖ ${b.name} failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  }
}

process.stdout.write(`${markdownTable(rows)}\n`)
const meta = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, quick, rounds: ctx.rounds, roundMs: ctx.roundMs }
const dir = fileURLToPath(new URL('../results/', import.meta.url))
writeJson(`${dir}latest.json`, rows, meta)
if (!quick) writeJson(`${dir}${meta.date.replace(/[:.]/g, '-')}.json`, rows, meta)
const failed = rows.filter((r) => passes(r) === false)
if (failed.length > 0) process.stderr.write(`${failed.length} row(s) miss their target\n`)
