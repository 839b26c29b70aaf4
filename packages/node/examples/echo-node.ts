/**
 * An echo node without a directory, for benchmarks and demos: prints `{"url": …}` once listening and
 * closes on SIGINT/SIGTERM. Run: `pnpm exec tsx --conditions=@iicp/source packages/node/examples/echo-node.ts`.
 */
import { IicpNode, echo } from '@iicp/node'

const node = new IicpNode({
  directoryUrl: null, persistState: false, cx: false, host: '127.0.0.1', port: Number(process.env.PORT ?? 0),
  backend: echo(), maxConcurrent: 256,
  // Load generators replay one fixed body, hence one task_id; with the 409 check on, all but the first would fail.
  recentTaskIds: 0,
})
await node.serve()
process.stdout.write(JSON.stringify({ url: node.url }) + '\n')
node.closeOnSignals()
// The example decides to exit; the library never does.
node.once('closed', () => process.exit(0))
