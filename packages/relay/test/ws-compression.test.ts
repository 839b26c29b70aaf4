/**
 * What this proves: neither end of a WebSocket relay hop compresses. The relay refuses permessage-deflate even when
 * a client offers it (the 101 names no extension), and the worker never offers it in its handshake. Task bodies are
 * small JSON; deflating each frame costs more CPU than the bytes it saves on any link a relay runs on.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { StartedRelayServer } from '@iicp/relay'

let relay: StartedRelayServer | undefined
let server: Server | undefined
afterEach(async () => {
  await relay?.close()
  relay = undefined
  const s = server
  server = undefined
  if (s) await new Promise<void>((resolve) => {
    s.close(() => resolve())
    s.closeAllConnections()
  })
})

describe('WebSocket relay hops', () => {
  it('are not compressed by the relay, even for a client that offers permessage-deflate', async () => {
    relay = await startRelayServer({ allowUnsignedBinds: true })
    const ws = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/v1/relay/ws`, { perMessageDeflate: true })
    const upgrade = new Promise<IncomingHttpHeaders>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)))
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    expect((await upgrade)['sec-websocket-extensions']).toBeUndefined()
    expect(ws.extensions).toBe('')
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
    ws.close()
    await closed
  })

  it('are not compressed by the worker: its handshake offers no extension', async () => {
    let seen: IncomingHttpHeaders | undefined
    server = createServer((_req, res) => {
      res.writeHead(404).end()
    })
    server.on('upgrade', (req, socket: Duplex) => {
      seen = req.headers
      socket.destroy()
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const worker = createRelayWorker({
      relayUrl: `http://127.0.0.1:${port}`, workerId: 'w1', transport: 'ws', maxReconnectAttempts: 0,
      handleTask: async () => ({ status: 200, body: {} }),
    })
    await expect(worker.start()).rejects.toMatchObject({ code: 'connection_failed' })
    await worker.close()
    expect(seen?.upgrade?.toLowerCase()).toBe('websocket')
    expect(seen?.['sec-websocket-extensions']).toBeUndefined()
  })
})
