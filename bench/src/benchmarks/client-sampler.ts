/**
 * The client bench's sampling process. client.ts bundles it and runs it with plain `node`, the way @iicp/client
 * ships (tsup output): under the bench's TypeScript loader every closure the SDK makes per call would also pay the
 * loader's name-keeping wrapper, a cost the raw baseline barely has and no user's process has.
 *
 * argv: `<node url> <rounds> <durationMs>`; prints one JSON line: `{ seq: { raw, sdk, min }, par: { raw, sdk } }`,
 * each a list of per-round LatencyResults.
 */
import { randomUUID } from 'node:crypto'
import { Agent } from 'undici'
import { IICP_VERSION_HEADER_VALUE } from '@iicp/protocol'
import { IicpClient } from '@iicp/client'
import type { LatencyResult } from '../harness/latency.js'
import { percentile } from '../harness/stats.js'
import { CHAT_INTENT, TASK_PAYLOAD } from '../harness/task-body.js'

/** What the sampler prints. */
export interface ClientSamples {
  readonly seq: { readonly raw: LatencyResult[]; readonly sdk: LatencyResult[]; readonly min: LatencyResult[] }
  readonly par: { readonly raw: LatencyResult[]; readonly sdk: LatencyResult[] }
}

/** The Agent options HttpTransport uses for its own pool, so both sides pool sockets the same way. */
const CLIENT_AGENT_OPTIONS = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 } as const

/**
 * Run `ops` one after another for `durationMs`, rotating which goes first on every step, so each samples the same
 * moments of a shared machine; opsPerSec is per op (samples over the time spent in that op).
 */
async function pairedLatency(ops: readonly (() => Promise<unknown>)[], opts: { durationMs: number; warmup: number }): Promise<LatencyResult[]> {
  const n = ops.length
  for (let i = 0; i < opts.warmup; i++) for (const op of ops) await op()
  const samples: number[][] = ops.map(() => [])
  const end = performance.now() + opts.durationMs
  for (let step = 0; performance.now() < end; step++) {
    for (let k = 0; k < n; k++) {
      const i = (step + k) % n
      const t0 = performance.now()
      await (ops[i] as () => Promise<unknown>)()
      ;(samples[i] as number[]).push(performance.now() - t0)
    }
  }
  return samples.map((s) => {
    s.sort((a, b) => a - b)
    const spent = s.reduce((a, b) => a + b, 0)
    return { opsPerSec: (s.length / spent) * 1000, p50Ms: percentile(s, 50), p99Ms: percentile(s, 99), samples: s.length }
  })
}

/**
 * Throughput with `concurrency` calls in flight, in short slices that alternate between the ops (the leader
 * rotating), so a burst of load from another process costs every op about the same share of its slices.
 */
async function interleavedThroughput(ops: readonly (() => Promise<unknown>)[], opts: { durationMs: number; slices: number; concurrency: number }): Promise<LatencyResult[]> {
  const n = ops.length
  const samples: number[][] = ops.map(() => [])
  const elapsed: number[] = ops.map(() => 0)
  const sliceMs = opts.durationMs / opts.slices
  for (let slice = 0; slice < opts.slices; slice++) {
    for (let k = 0; k < n; k++) {
      const i = (slice + k) % n
      const op = ops[i] as () => Promise<unknown>
      const into = samples[i] as number[]
      const start = performance.now()
      const end = start + sliceMs
      await Promise.all(Array.from({ length: opts.concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now()
          await op()
          into.push(performance.now() - t0)
        }
      }))
      elapsed[i] = (elapsed[i] as number) + performance.now() - start
    }
  }
  return samples.map((s, i) => {
    s.sort((a, b) => a - b)
    return { opsPerSec: (s.length / (elapsed[i] as number)) * 1000, p50Ms: percentile(s, 50), p99Ms: percentile(s, 99), samples: s.length }
  })
}

const [nodeUrl = '', roundsArg = '3', durationArg = '2000'] = process.argv.slice(2)
const rounds = Number(roundsArg)
const durationMs = Number(durationArg)
const url = new URL(nodeUrl)
const agent = new Agent(CLIENT_AGENT_OPTIONS)
const minimalAgent = new Agent(CLIENT_AGENT_OPTIONS)
const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true })
// One node object reused on every call, as an application holding a selected route would.
const target = { node_id: 'echo', endpoint: url.origin, score: 1, available: true, capabilities: [{ intent: CHAT_INTENT }] }

function check(statusCode: number, json: { status: string }): void {
  if (statusCode !== 200 || json.status !== 'success') throw new Error(`raw request failed: ${statusCode}`)
}

// The request the SDK sends, written by hand as cheaply as possible: the trace id is the task UUID's hex.
const raw = async (): Promise<unknown> => {
  const taskId = randomUUID()
  const traceId = taskId.replaceAll('-', '')
  const res = await agent.request({
    origin: url.origin, path: '/v1/task', method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-iicp-version': IICP_VERSION_HEADER_VALUE, traceparent: `00-${traceId}-${traceId.slice(16)}-01` },
    body: JSON.stringify({ task_id: taskId, intent: CHAT_INTENT, payload: TASK_PAYLOAD, constraints: { timeout_ms: 30000 }, trace: { trace_id: traceId } }),
  })
  const json = JSON.parse(await res.body.text()) as { status: string }
  check(res.statusCode, json)
  return json
}
// The least a node accepts: no protocol headers, no trace field.
const minimal = async (): Promise<unknown> => {
  const res = await minimalAgent.request({
    origin: url.origin, path: '/v1/task', method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task_id: randomUUID(), intent: CHAT_INTENT, payload: TASK_PAYLOAD, constraints: { timeout_ms: 30000 } }),
  })
  const json = JSON.parse(await res.body.text()) as { status: string }
  check(res.statusCode, json)
  return json
}
const submit = (): Promise<unknown> => client.submit(CHAT_INTENT, TASK_PAYLOAD, { node: target })

const out: ClientSamples = { seq: { raw: [], sdk: [], min: [] }, par: { raw: [], sdk: [] } }
try {
  for (let r = 0; r < rounds; r++) {
    const [rawR, sdkR, minR] = await pairedLatency([raw, submit, minimal], { durationMs: durationMs * 1.5, warmup: 100 })
    out.seq.raw.push(rawR as LatencyResult)
    out.seq.sdk.push(sdkR as LatencyResult)
    out.seq.min.push(minR as LatencyResult)
    const [rawP, sdkP] = await interleavedThroughput([raw, submit], { durationMs: durationMs * 2, slices: 10, concurrency: 16 })
    out.par.raw.push(rawP as LatencyResult)
    out.par.sdk.push(sdkP as LatencyResult)
  }
} finally {
  await client.close()
  await agent.close()
  await minimalAgent.close()
}
process.stdout.write(`${JSON.stringify(out)}\n`)
