/**
 * An IicpNode whose handler streams: the first chunk is yielded at once, the rest after a fixed 20 ms pause
 * each, so "time to first chunk" measures the path, not the work.
 */
import { IicpNode } from '@iicp/node'
import type { InnerResult, TaskHandler } from '@iicp/node'

const CHUNKS = 5
const handler: TaskHandler = () => (async function* (): AsyncGenerator<InnerResult> {
  for (let i = 0; i < CHUNKS; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 20))
    yield { choices: [{ index: 0, delta: { content: `part-${i} ` } }] }
  }
})()
const node = new IicpNode({
  directoryUrl: null, persistState: false, cx: false, host: '127.0.0.1', port: 0, handler, maxConcurrent: 256, recentTaskIds: 0,
})
await node.serve()
process.stdout.write(JSON.stringify({ url: node.url, transportEndpoint: node.transportEndpoint }) + '\n')
process.on('SIGTERM', () => void node.close().then(() => process.exit(0)))
