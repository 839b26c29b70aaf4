import { randomUUID } from 'node:crypto'
import { IicpNode, echo } from './src/index.js'
const N = 200000
const bodies = Array.from({ length: 1000 }, () => Buffer.from(JSON.stringify({ task_id: randomUUID(), intent: 'urn:iicp:intent:llm:chat:v1', payload: { messages: [{ role: 'user', content: 'hello mesh' }] }, constraints: { timeout_ms: 5000, qos: 'batch' } })))
const node = new IicpNode({ directoryUrl: null, persistState: false, cx: false, backend: echo(), maxConcurrent: 256, recentTaskIds: 0 })
const h = {}
for (let r = 0; r < 4; r++) {
  const t = performance.now(); for (let i = 0; i < N; i++) await node.handleTask(bodies[i % 1000]!, h); console.log('pipeline', (((performance.now() - t) * 1000) / N).toFixed(2), 'µs')
  const t2 = performance.now(); for (let i = 0; i < N; i++) { const b = JSON.parse(bodies[i % 1000]!.toString('utf8')); await Promise.resolve(JSON.stringify({ task_id: b.task_id, status: 'success', result: { object: 'chat.completion', model: 'echo', choices: [{ index: 0, message: { role: 'assistant', content: b.payload.messages[0].content }, finish_reason: 'stop' }] }, metrics: { latency_ms: performance.now() - t2 }, model_used: 'echo', error: null })) } console.log('bare    ', (((performance.now() - t2) * 1000) / N).toFixed(2), 'µs')
}
