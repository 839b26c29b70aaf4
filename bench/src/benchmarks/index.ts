/** Every registered benchmark, by package. */
import type { Benchmark } from '../harness/types.js'
import { cliBench } from './cli.js'
import { clientBench } from './client.js'
import { directoryBench } from './directory.js'
import { nativeBench } from './native.js'
import { nodeBench } from './node.js'
import { relayBench } from './relay.js'

export const benchmarks: Benchmark[] = [nodeBench, clientBench, directoryBench, relayBench, nativeBench, cliBench]
