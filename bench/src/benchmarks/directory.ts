/**
 * @iicp/directory: discover at 100 and 10 000 nodes beside a bare indexed endpoint; heartbeat, register, RSS.
 * Each load group first runs one discarded warm-up round (JIT, sockets, view caches), so the measured medians are of
 * warm servers. Latencies come from autocannon, whose histogram holds whole milliseconds: reported at that resolution.
 */
import { interleavedLoad } from '../harness/rounds.js'
import type { Contender } from '../harness/rounds.js'
import { rssMiB, spawnServer } from '../harness/process.js'
import type { Benchmark, BenchRow } from '../harness/types.js'

const QUERY = '/api/v1/discover?intent=urn%3Aiicp%3Aintent%3Allm%3Achat%3Av1&limit=10'
/** autocannon records latencies in whole milliseconds. */
const LOAD_RESOLUTION_MS = 1

/** One discarded round of every contender (at most 2 s each), then the measured rounds. */
async function warmThenMeasure(contenders: readonly Contender[], rounds: number, roundMs: number): Promise<Awaited<ReturnType<typeof interleavedLoad>>> {
  const warmMs = Math.min(roundMs, 2000)
  await interleavedLoad(contenders.map((c) => ({ ...c, spec: { ...c.spec, durationMs: warmMs } })), 1)
  return interleavedLoad(contenders, rounds)
}

export const directoryBench: Benchmark = {
  name: 'directory',
  pkg: '@iicp/directory',
  async run(ctx) {
    const big = ctx.quick ? 1000 : 10_000
    const [dir100, dirBig, bareBig] = await Promise.all([
      spawnServer('directory', ['100']),
      spawnServer('directory', [String(big)]),
      spawnServer('bare-discover', [String(big), QUERY]),
    ])
    try {
      const rssBig = rssMiB(dirBig.pid)
      const get = (url: string, connections = 16) => ({ url: `${url}${QUERY}`, connections, durationMs: ctx.roundMs })
      const [c100, cBig, bare] = await warmThenMeasure([
        { label: 'directory@100', spec: get(dir100.info.url), pid: dir100.pid },
        { label: `directory@${big}`, spec: get(dirBig.info.url), pid: dirBig.pid },
        { label: `bare@${big}`, spec: get(bareBig.info.url), pid: bareBig.pid },
      ], ctx.rounds, ctx.roundMs)
      const hbBody = JSON.stringify({ node_id: dirBig.info.nodeId, load: 0.1, active_jobs: 0, available: true })
      const regBody = (i: number) => JSON.stringify({
        endpoint: `http://127.0.0.1:${30000 + i}`, region: 'eu-central',
        capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['m'], max_tokens: 4096 }],
        limits: { max_concurrent: 4, tokens_per_min: 1000 }, nat_type: 'full_cone', transport_method: 'upnp_mapped',
      })
      const [hb] = await warmThenMeasure([{
        label: 'heartbeat', pid: dirBig.pid,
        spec: { url: `${dirBig.info.apiUrl}/v1/heartbeat`, method: 'POST', body: hbBody, connections: 16, durationMs: ctx.roundMs,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${String(dirBig.info.token)}` } },
      }], ctx.rounds, ctx.roundMs)
      const [reg] = await warmThenMeasure([{
        label: 'register', pid: dir100.pid,
        spec: { url: `${dir100.info.apiUrl}/v1/register`, method: 'POST', body: regBody(1), connections: 16, durationMs: ctx.roundMs,
          headers: { 'content-type': 'application/json' } },
      }], ctx.rounds, ctx.roundMs)
      const rows: BenchRow[] = [
        { name: 'directory discover', metric: `req/s @${big} nodes vs bare index`, candidate: { label: 'directory', opsPerSec: cBig!.rps, p50Ms: cBig!.p50, p99Ms: cBig!.p99, latencyResolutionMs: LOAD_RESOLUTION_MS }, baseline: { label: 'bare node:http', opsPerSec: bare!.rps, p50Ms: bare!.p50, p99Ms: bare!.p99, latencyResolutionMs: LOAD_RESOLUTION_MS }, value: cBig!.rps / bare!.rps, target: { op: '>=', value: 0.5, on: 'ratio' } },
        { name: 'directory discover', metric: `req/s @${big} vs @100 nodes`, candidate: { label: `directory@${big}`, opsPerSec: cBig!.rps }, baseline: { label: 'directory@100', opsPerSec: c100!.rps }, value: cBig!.rps / c100!.rps, target: { op: '>=', value: 0.7, on: 'ratio' } },
        { name: 'directory heartbeat', metric: 'beats/s', candidate: { label: 'directory', opsPerSec: hb!.rps, p50Ms: hb!.p50, p99Ms: hb!.p99, latencyResolutionMs: LOAD_RESOLUTION_MS }, value: hb!.rps, target: { op: '>=', value: 2000, on: 'absolute', unit: '/s' } },
        { name: 'directory register', metric: 'registrations/s', candidate: { label: 'directory', opsPerSec: reg!.rps, p50Ms: reg!.p50, p99Ms: reg!.p99, latencyResolutionMs: LOAD_RESOLUTION_MS }, value: reg!.rps, target: { op: '>=', value: 500, on: 'absolute', unit: '/s' } },
        { name: 'directory memory', metric: `RSS with ${big} nodes`, candidate: { label: 'directory', rssMiB: rssBig }, value: rssBig, target: { op: '<=', value: 100, on: 'absolute', unit: 'MiB' } },
      ]
      return rows
    } finally {
      await Promise.all([dir100.close(), dirBig.close(), bareBig.close()])
    }
  },
}
