/** Every registered benchmark, by package. */
import type { Benchmark } from '../harness/types.js'

export const benchmarks: Benchmark[] = []
