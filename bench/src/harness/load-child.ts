/** Runs autocannon in its own process (so load generation never competes with the measured code's loop). */
import autocannon from 'autocannon'

const spec = JSON.parse(process.argv[2] ?? '{}') as {
  url: string; method?: string; body?: string; headers?: Record<string, string>; connections: number; durationMs: number
}
const result = await autocannon({
  url: spec.url,
  method: (spec.method ?? 'GET') as 'GET',
  body: spec.body,
  headers: spec.headers,
  connections: spec.connections,
  pipelining: 1,
  duration: spec.durationMs / 1000,
})
process.stdout.write(JSON.stringify({
  rps: result.requests.average,
  total: result.requests.total,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
}) + '\n')
