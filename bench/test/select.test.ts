/**
 * `pnpm bench --only`: selectors match a package or the whole leading words of a benchmark's name, never a
 * substring, proven on the registered benchmarks (so `cli` no longer drags in `client submit`) and on a
 * small list; a selector that names nothing is an error listing what there is.
 */
import { describe, expect, it } from 'vitest'
import { benchmarks } from '../src/benchmarks/index.js'
import { UnknownBenchmarkError, selectBenchmarks, selects } from '../src/harness/select.js'
import type { Benchmark } from '../src/harness/types.js'

const bench = (name: string, pkg: string): Benchmark => ({ name, pkg, run: () => Promise.resolve([]) })
const names = (only: string | undefined, all: readonly Benchmark[] = benchmarks): string[] => selectBenchmarks(all, only).map((b) => b.name)

describe('bench --only', () => {
  it('picks only the cli benchmark for "cli", not the client one whose package contains it', () => {
    expect(names('cli')).toEqual(['cli --help'])
    expect(names('client')).toEqual(['client submit'])
  })

  it('picks every benchmark of a package by its short or full name', () => {
    const all = [bench('node task', '@iicp/node'), bench('native transport', '@iicp/node'), bench('relay hop', '@iicp/relay')]
    expect(names('node', all)).toEqual(['node task', 'native transport'])
    expect(names('@iicp/node', all)).toEqual(['node task', 'native transport'])
  })

  it('matches whole leading words of a name, case-insensitively, and never a part of a word', () => {
    const b = bench('native transport', '@iicp/node')
    expect(selects(b, 'native')).toBe(true)
    expect(selects(b, 'Native  Transport')).toBe(true)
    expect(selects(b, 'nat')).toBe(false)
    expect(selects(b, 'transport')).toBe(false)
    expect(selects(b, 'native transport hop')).toBe(false)
    expect(selects(b, '   ')).toBe(false)
  })

  it('takes a comma-separated list and keeps registration order', () => {
    const all = [bench('node task', '@iicp/node'), bench('client submit', '@iicp/client'), bench('cli --help', '@iicp/cli')]
    expect(names('cli, node', all)).toEqual(['node task', 'cli --help'])
  })

  it('picks everything without --only or with an empty value', () => {
    expect(names(undefined)).toEqual(benchmarks.map((b) => b.name))
    expect(names(' , ')).toEqual(benchmarks.map((b) => b.name))
  })

  it('throws for a selector that names no benchmark, listing packages and names', () => {
    const all = [bench('node task', '@iicp/node'), bench('cli --help', '@iicp/cli')]
    expect(() => selectBenchmarks(all, 'node,clie')).toThrow(UnknownBenchmarkError)
    expect(() => selectBenchmarks(all, 'clie')).toThrow('--only "clie" names no benchmark; packages: node, cli; names: node task, cli --help')
  })
})
