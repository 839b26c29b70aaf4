/**
 * Runs inside the "internet" namespace (spawned with `ip netns exec <wan> node --import tsx ...`): a public-mode
 * directory, a relay-capable node registered at 11.0.0.2 (with the default native accept port 9485, which this
 * fresh namespace always has free), and a consumer. Takes one JSON command per stdin
 * line and answers one JSON line on stdout.
 */
import { createInterface } from 'node:readline'
import { request } from 'node:http'
import { IicpClient } from '@iicp/client'
import { startDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../../../src/index.js'

const PUBLIC_HOST = '11.0.0.2'

const dir = await startDirectory({ host: '0.0.0.0', port: 0, mode: 'public', pruneIntervalMs: 0 })
const dirPort = Number(new URL(dir.apiUrl).port)
const publicDirectory = `http://${PUBLIC_HOST}:${dirPort}/api`
const relay = new IicpNode({
  directoryUrl: publicDirectory, host: '0.0.0.0', port: 0, persistState: false, cx: false, relayCapable: true,
  backend: echo({ models: ['relay-model'] }),
  reachability: async ({ port }) => ({ publicEndpoint: `http://${PUBLIC_HOST}:${port}` }),
})
await relay.serve()
// The consumer sits next to the directory, so it may use plain http on loopback; the node routes are public.
const client = new IicpClient({ directoryUrl: `http://127.0.0.1:${dirPort}/api`, allowPrivateEndpoints: true, allowPlaintext: true, routeCacheMs: 0 })

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

/** GET `url` with a short timeout; the status, or `ERR:<code>`. */
function dial(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume()
      resolve(String(res.statusCode))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`ERR:${e.code ?? 'error'}`))
    req.end()
  })
}

async function handle(cmd: Record<string, unknown>): Promise<unknown> {
  switch (cmd.op) {
    case 'chat': {
      const reply = await client.chat([{ role: 'user', content: String(cmd.content) }], { model: String(cmd.model) })
      return { content: reply.choices[0]?.message.content, iicp: reply.iicp }
    }
    case 'record': {
      const res = await fetch(`http://127.0.0.1:${dirPort}/api/v1/node/${encodeURIComponent(String(cmd.nodeId))}`)
      return { status: res.status, record: await res.json() }
    }
    case 'dial':
      return { result: await dial(String(cmd.url), Number(cmd.timeoutMs ?? 1500)) }
    case 'close':
      await client.close()
      await relay.close()
      await dir.close()
      return { closed: true }
    default:
      throw new Error(`unknown op ${String(cmd.op)}`)
  }
}

send({ ready: true, directory: publicDirectory, relay: { url: relay.endpoint, nodeId: relay.nodeId, acceptPort: relay.relayAcceptPort } })
const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const cmd = JSON.parse(line) as Record<string, unknown>
  handle(cmd).then(
    (v) => {
      send({ id: cmd.id, ok: true, ...(v as object) })
      if (cmd.op === 'close') process.exit(0)
    },
    (err: unknown) => send({ id: cmd.id, ok: false, error: { code: (err as { code?: string }).code, message: (err as Error).message } }),
  )
})
