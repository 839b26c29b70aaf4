// Proves the codec does its job on a real loopback TCP connection (official-sdks.md §6.2): a listener that routes
// with sniffProtocol waits when the 4-byte magic arrives split across two TCP segments (the official TS SDK
// misroutes that case to HTTP), then FrameDecoder + decodeNativeMessage read the INIT and the peer reads the ACK;
// an HTTP request on the same port is routed to HTTP. The codec does no I/O; this test owns the sockets.
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { FrameDecoder, sniffProtocol } from '../src/native/frame.js'
import type { SniffResult } from '../src/native/frame.js'
import { decodeNativeMessage, encodeNativeMessage } from '../src/native/messages.js'
import type { NativeMessage } from '../src/native/messages.js'

interface Routed {
  readonly verdicts: SniffResult[]
  readonly firstChunkBytes: number
  readonly messages: NativeMessage[]
  readonly httpLine?: string
}

let server: Server | undefined
const accepted = new Set<Socket>()
afterEach(async () => {
  for (const socket of accepted) socket.destroy()
  accepted.clear()
  if (server?.listening) {
    server.close()
    await once(server, 'close')
  }
  server = undefined
})

/** A one-port listener: sniff, then hand native bytes to FrameDecoder and answer INIT with ACK. */
async function listen(onRouted: (r: Routed) => void, onFirstChunk: () => void): Promise<number> {
  server = createServer((socket: Socket) => {
    accepted.add(socket)
    // The test client resets the connection when it is done; that is not a failure of the listener.
    socket.on('error', () => undefined)
    let head = new Uint8Array(0)
    const verdicts: SniffResult[] = []
    let firstChunkBytes = -1
    const onData = (chunk: Buffer): void => {
      if (firstChunkBytes < 0) {
        firstChunkBytes = chunk.length
        onFirstChunk()
      }
      head = new Uint8Array([...head, ...chunk])
      const verdict = sniffProtocol(head)
      verdicts.push(verdict)
      if (verdict === 'need_more') return
      socket.off('data', onData)
      if (verdict === 'http') {
        onRouted({ verdicts, firstChunkBytes, messages: [], httpLine: Buffer.from(head).toString('latin1').split('\r\n')[0] ?? '' })
        socket.end('HTTP/1.1 204 No Content\r\n\r\n')
        return
      }
      const decoder = new FrameDecoder()
      const messages: NativeMessage[] = []
      const feed = (bytes: Uint8Array): void => {
        const { frames, error } = decoder.push(bytes)
        if (error) socket.destroy()
        for (const frame of frames) {
          const decoded = decodeNativeMessage(frame)
          if (!decoded.ok) continue
          messages.push(decoded.message)
          if (decoded.message.kind === 'init') {
            socket.write(encodeNativeMessage({ kind: 'ack', protocolVersion: 1, nodeId: 'loopback-node' }))
            onRouted({ verdicts, firstChunkBytes, messages })
          }
        }
      }
      feed(head)
      socket.on('data', feed)
    }
    socket.on('data', onData)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

describe('sniffProtocol and FrameDecoder on a loopback socket', () => {
  it('route a magic split 2+rest across TCP segments to the native decoder and answer the INIT', async () => {
    let firstChunk!: () => void
    const gotFirstChunk = new Promise<void>((resolve) => { firstChunk = resolve })
    let routed!: (r: Routed) => void
    const gotRouted = new Promise<Routed>((resolve) => { routed = resolve })
    const port = await listen(routed, firstChunk)

    const client = createConnection({ port, host: '127.0.0.1', noDelay: true })
    await once(client, 'connect')
    const init = encodeNativeMessage({ kind: 'init', protocolVersion: 1 })
    client.write(init.subarray(0, 2))
    // The server has seen the 2-byte segment before the rest is written, so the split is real.
    await gotFirstChunk
    const replies = new FrameDecoder()
    const ack = new Promise<NativeMessage>((resolve) => {
      client.on('data', (chunk: Buffer) => {
        for (const frame of replies.push(chunk).frames) {
          const m = decodeNativeMessage(frame)
          if (m.ok) resolve(m.message)
        }
      })
    })
    client.write(init.subarray(2))

    const result = await gotRouted
    expect(result.firstChunkBytes).toBe(2)
    expect(result.verdicts[0]).toBe('need_more')
    expect(result.verdicts.at(-1)).toBe('iicp')
    expect(result.messages).toEqual([{ kind: 'init', protocolVersion: 1 }])
    expect(await ack).toEqual({ kind: 'ack', protocolVersion: 1, nodeId: 'loopback-node' })
    client.destroy()
  })

  it('route an HTTP request on the same port to HTTP', async () => {
    let routed!: (r: Routed) => void
    const gotRouted = new Promise<Routed>((resolve) => { routed = resolve })
    const port = await listen(routed, () => undefined)
    const client = createConnection({ port, host: '127.0.0.1' })
    await once(client, 'connect')
    client.write('GET /iicp/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    const result = await gotRouted
    expect(result.verdicts.at(-1)).toBe('http')
    expect(result.httpLine).toBe('GET /iicp/health HTTP/1.1')
    client.destroy()
  })
})
