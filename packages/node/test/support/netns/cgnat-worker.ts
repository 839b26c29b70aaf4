/**
 * Runs inside the LAN namespace behind the CGNAT-style gateway: a node with `reachability: 'auto'` pointed at
 * the directory in the "internet" namespace (argv[2]). argv[3], optional JSON: `model` to serve (tests sharing
 * one directory keep their nodes apart with it), `host` to listen on (`::` for IPv6), and the UPnP and NAT-PMP
 * client options. It reports its lifecycle events as JSON lines on stdout and closes on a `close` line on stdin.
 */
import { createInterface } from 'node:readline'
import { IicpNode, echo } from '../../../src/index.js'

const directoryUrl = process.argv[2] as string
const settings = JSON.parse(process.argv[3] ?? '{}') as {
  model?: string
  host?: string
  upnp?: { discoveryTimeoutMs?: number; requestTimeoutMs?: number }
  natPmp?: { initialTimeoutMs?: number; retries?: number }
}

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

const node = new IicpNode({
  directoryUrl, host: settings.host ?? '0.0.0.0', port: 0, persistState: false, cx: false, backend: echo({ models: [settings.model ?? 'worker-model'] }),
  reachability: 'auto',
  // The sandbox may itself run in a container (/.dockerenv); this namespace is a LAN host, not a container.
  nat: {
    detectContainer: async () => undefined,
    upnp: settings.upnp ?? { discoveryTimeoutMs: 2000, requestTimeoutMs: 3000 },
    natPmp: settings.natPmp ?? { retries: 2 },
  },
})
node.on('reachability', (r) => send({ event: 'reachability', ...r }))
node.on('relay_bound', (e) => send({ event: 'relay_bound', ...e, nodeId: node.nodeId }))
node.on('relay_lost', (e) => send({ event: 'relay_lost', ...e }))
node.on('registered', (e) => send({ event: 'registered', endpoint: e.endpoint, observedSourceIp: e.observedSourceIp }))
node.on('degraded', (e) => send({ event: 'degraded', ...e }))
await node.serve()
send({ event: 'serving', nodeId: node.nodeId, port: node.port })

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'close') return
  void node.close().then(() => {
    send({ event: 'closed' })
    process.exit(0)
  })
})
