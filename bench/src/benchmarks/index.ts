/** Every registered benchmark, by package. */
import type { Benchmark } from '../harness/types.js'
import { directoryBench } from './directory.js'

export const benchmarks: Benchmark[] = [directoryBench]
