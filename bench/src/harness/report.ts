/** Markdown table for people, JSON for comparison over time. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { passes, type BenchRow, type Measure } from './types.js'

const fmt = (n: number | undefined, digits = 2): string => (n === undefined || Number.isNaN(n) ? '–' : n >= 100 ? Math.round(n).toString() : n.toFixed(digits))

/** A latency no finer than the tool measured it: whole steps of `resolution` ms, `<step` below the first. */
function fmtLatency(n: number, resolution: number | undefined): string {
  if (resolution === undefined || Number.isNaN(n)) return fmt(n, 3)
  if (n < resolution) return `<${resolution}`
  return String(Math.round(n / resolution) * resolution)
}

function measureCell(m: Measure | undefined): string {
  if (!m) return '–'
  const parts: string[] = []
  if (m.opsPerSec !== undefined) parts.push(`${fmt(m.opsPerSec)} ops/s`)
  if (m.p50Ms !== undefined) parts.push(`p50 ${fmtLatency(m.p50Ms, m.latencyResolutionMs)} ms`)
  if (m.p99Ms !== undefined) parts.push(`p99 ${fmtLatency(m.p99Ms, m.latencyResolutionMs)} ms`)
  if (m.cpuMsPerOp !== undefined) parts.push(`${fmt(m.cpuMsPerOp, 4)} cpu-ms/op`)
  if (m.rssMiB !== undefined) parts.push(`${fmt(m.rssMiB, 1)} MiB`)
  return `${m.label}: ${parts.join(', ')}`
}

export function markdownTable(rows: readonly BenchRow[]): string {
  const lines = [
    '| benchmark | metric | candidate | baseline | value | target | ok |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of rows) {
    const ok = passes(r)
    const target = r.target ? `${r.target.op} ${r.target.value}${r.target.on === 'ratio' ? '×' : ` ${r.target.unit ?? ''}`}` : '–'
    const value = r.target?.on === 'absolute' ? `${fmt(r.value)} ${r.target.unit ?? ''}` : `${fmt(r.value, 3)}×`
    lines.push(`| ${r.name} | ${r.metric} | ${measureCell(r.candidate)} | ${measureCell(r.baseline)} | ${value} | ${target} | ${ok === undefined ? '–' : ok ? 'yes' : '**no**'} |`)
  }
  return lines.join('\n')
}

export function writeJson(path: string, rows: readonly BenchRow[], meta: Record<string, unknown>): void {
  mkdirSync(new URL('.', `file://${path}`).pathname, { recursive: true })
  writeFileSync(path, JSON.stringify({ ...meta, rows: rows.map((r) => ({ ...r, pass: passes(r) })) }, null, 2) + '\n')
}
