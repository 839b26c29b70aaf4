/**
 * Candidate: an IicpNode with the echo backend and no directory. With `--relay <url> --transport ws|http`
 * it also binds as a relay worker and serves the relay's calls through the same task pipeline.
 */
import { IicpNode, echo } from '@iicp/node'

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const node = new IicpNode({
  directoryUrl: null, persistState: false, cx: false, host: '127.0.0.1', port: 0, backend: echo(), maxConcurrent: 256,
  // autocannon replays one body, hence one task_id; the duplicate check would refuse all but the first.
  recentTaskIds: 0,
})
await node.serve()
const relayUrl = arg('--relay')
let relayEndpoint: string | undefined
if (relayUrl) {
  // Imported only in relay mode, so the plain node's memory is not charged with the relay's modules.
  const { createRelayWorker, createTcpRelayWorker } = await import('@iicp/relay')
  const transport = (arg('--transport') ?? 'ws') as 'ws' | 'http' | 'tcp'
  const handleTask = (body: Buffer, headers: Record<string, string>, signal: AbortSignal) => node.handleTask(body, headers, signal)
  const worker = transport === 'tcp'
    ? createTcpRelayWorker({ relay: relayUrl, workerId: 'bench-worker-tcp', intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo'], handleTask,
      handleStream: (body, headers, signal) => node.streamTask(body, headers, signal) })
    : createRelayWorker({ relayUrl, workerId: `bench-worker-${transport}`, transport, handleTask })
  await worker.start()
  relayEndpoint = worker.relayEndpoint
  process.on('SIGTERM', () => void worker.close())
}
process.stdout.write(JSON.stringify({ url: node.url, relayEndpoint }) + '\n')
process.on('SIGTERM', () => void node.close().then(() => process.exit(0)))
