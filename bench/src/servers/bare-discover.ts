/**
 * Baseline for discover: a bare node:http endpoint that answers the same discover query with the same
 * bytes, looked up from an index (a Map from query string to a prebuilt body). The body is taken once
 * from an in-process directory seeded exactly like the candidate.
 */
import { createServer, request as httpRequest } from 'node:http'
import { createDirectory, seedNodes } from '@iicp/directory'

const count = Number(process.argv[2] ?? '100')
const query = process.argv[3] ?? '/api/v1/discover?intent=urn%3Aiicp%3Aintent%3Allm%3Achat%3Av1&limit=10'
const directory = await createDirectory({ mode: 'local', skipLivenessCheck: true })
let seed = 1
seedNodes(directory, count, { random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) })
const probe = createServer(directory.listener)
await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
const port = (probe.address() as { port: number }).port
const answer = await new Promise<Buffer>((resolve, reject) => {
  httpRequest({ host: '127.0.0.1', port, path: query }, (res) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => resolve(Buffer.concat(chunks)))
  }).on('error', reject).end()
})
probe.close()
await directory.close()

const index = new Map<string, Buffer>([[new URL(query, 'http://x').searchParams.get('intent') ?? '', answer]])
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  const body = index.get(url.searchParams.get('intent') ?? '')
  if (!body) {
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end('{"error":{"code":"not_found","message":"no such intent"}}')
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'public, max-age=5, s-maxage=10, stale-while-revalidate=5' })
  res.end(body)
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bytes: answer.length }) + '\n')
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
