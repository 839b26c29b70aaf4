/**
 * TCP relay latency check beside the other transports: the same small task direct (bare node:http), through the
 * relay over the native TCP accept port, over WebSocket and over long-poll, in one run; plus time to the first
 * streamed chunk through the TCP relay. Consumer, relay and worker share this one process, so throughput ratios
 * are a pessimistic bound.
 *
 *   pnpm exec tsx --conditions=@iicp/source packages/relay/bench/tcp-relay-latency.ts [--requests N]
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import { createRelayWorker, createTcpRelayWorker, startRelayServer, startTcpRelayAcceptor } from '../src/index.js'
import type { RelayTaskHandler } from '../src/index.js'

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const REQUESTS = arg('--requests', 4000)
const CONCURRENCY = 16

const taskBody = JSON.stringify({
  task_id: '8a9f52e3-65f9-4f3d-8580-298416f6c5b8',
  intent: 'urn:iicp:intent:llm:chat:v1',
  payload: { messages: [{ role: 'user', content: 'hello via relay' }] },
  constraints: { timeout_ms: 30000, qos: 'batch' },
})
const answer = Buffer.from(JSON.stringify({ task_id: '8a9f52e3-65f9-4f3d-8580-298416f6c5b8', status: 'success', result: { echo: 'hello via relay' } }))

// The worker and the direct server do the same work: read the body, answer fixed JSON.
const handleTask: RelayTaskHandler = async () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: answer })

// Streams yield a chunk at once, then wait a little: the first chunk's latency is what a chat user sees.
const handleStream = async function* (): AsyncGenerator<unknown, unknown> {
  yield { delta: 'hello' }
  await new Promise((r) => setTimeout(r, 1))
  yield { delta: ' via relay' }
  return { content: 'hello via relay' }
}

/** p50 ms from sending a streaming request to reading its first SSE event. */
async function firstChunk(url: string, n: number): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: taskBody })
    let first: number | undefined
    // Read to the end so the connection is reused; only the first event's arrival is timed.
    for await (const chunk of res.body) {
      if (first === undefined && (chunk as Buffer).includes('\n\n')) first = Number(process.hrtime.bigint() - t0) / 1e6
    }
    samples.push(first ?? Number.NaN)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(n * 0.5)] as number
}

const agent = new Agent({ connections: CONCURRENCY * 2, pipelining: 1, keepAliveTimeout: 30_000 })

async function once(url: string): Promise<void> {
  const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: taskBody })
  await res.body.dump()
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url}`)
}

async function latency(url: string, n: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await once(url)
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await once(url)
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  samples.sort((a, b) => a - b)
  return { p50: samples[Math.floor(n * 0.5)] as number, p99: samples[Math.floor(n * 0.99)] as number }
}

async function throughput(url: string, n: number): Promise<number> {
  let left = n
  const loop = async (): Promise<void> => {
    while (left-- > 0) await once(url)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, loop))
  left = n
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: CONCURRENCY }, loop))
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

const direct = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length })
    res.end(answer)
  })
})
await new Promise<void>((r) => direct.listen(0, '127.0.0.1', r))
const directUrl = `http://127.0.0.1:${(direct.address() as AddressInfo).port}/v1/task`

const relay = await startRelayServer({ allowUnsignedBinds: true, bindRateLimit: { max: 100, windowMs: 60_000 } })
const rows: string[] = []
const base = { lat: await latency(directUrl, REQUESTS), rps: await throughput(directUrl, REQUESTS * 2) }
rows.push(`| direct      | ${base.lat.p50.toFixed(3)} | ${base.lat.p99.toFixed(3)} | – | ${base.rps.toFixed(0)} | – |`)
const acceptor = await startTcpRelayAcceptor({ relay: relay.relay, host: '127.0.0.1', port: 0, relayHttpPort: relay.port })
for (const transport of ['tcp', 'ws', 'http'] as const) {
  const worker = transport === 'tcp'
    ? createTcpRelayWorker({ relay: `127.0.0.1:${acceptor.port}`, workerId: 'bench-tcp', handleTask, handleStream })
    : createRelayWorker({ relayUrl: relay.url, workerId: `bench-${transport}`, transport, handleTask })
  await worker.start()
  const url = `${String(worker.relayEndpoint)}/v1/task`
  const lat = await latency(url, REQUESTS)
  const rps = await throughput(url, REQUESTS * 2)
  const added = lat.p50 - base.lat.p50
  const ratio = rps / base.rps
  rows.push(`| relay ${transport.padEnd(5)}| ${lat.p50.toFixed(3)} | ${lat.p99.toFixed(3)} | ${added.toFixed(3)} ${added <= 0.3 ? '✓' : '✗'} | ${rps.toFixed(0)} | ${ratio.toFixed(2)} ${ratio >= 0.4 ? '✓' : '✗'} |`)
  if (transport === 'tcp') rows.push(`| tcp first chunk | ${(await firstChunk(url, Math.min(REQUESTS, 1000))).toFixed(3)} | – | – | – | – |`)
  await worker.close()
}
await acceptor.close()
await relay.close()
await agent.close()
await new Promise<void>((r) => direct.close(() => r()))

process.stdout.write([
  `TCP relay latency check · node ${process.version} · ${REQUESTS} requests at 1 in flight, ${REQUESTS * 2} at ${CONCURRENCY}`,
  '| path        | p50 ms | p99 ms | added p50 ms (≤ 0.3) | req/s @16 | × direct (≥ 0.4) |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
].join('\n'))
