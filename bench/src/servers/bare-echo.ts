/**
 * Baseline: a bare node:http server that does the same JSON work a node does for a task (read body,
 * JSON.parse, build the response envelope, JSON.stringify) with nothing else.
 */
import { createServer } from 'node:http'

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const started = performance.now()
    let body: { task_id?: string; payload?: { messages?: Array<{ content?: string }> } }
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end('{"error":{"code":"invalid_json","message":"bad json"}}')
      return
    }
    const content = body.payload?.messages?.at(-1)?.content ?? ''
    const out = JSON.stringify({
      task_id: body.task_id,
      status: 'success',
      result: { object: 'chat.completion', model: 'echo', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] },
      metrics: { latency_ms: performance.now() - started },
      model_used: 'echo',
      error: null,
    })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
    res.end(out)
  })
})
server.listen(0, '127.0.0.1', () => {
  const addr = server.address()
  if (addr && typeof addr === 'object') process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${addr.port}` }) + '\n')
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
