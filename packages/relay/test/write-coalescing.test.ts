// Proves the relay links' write coalescing on a real loopback TCP pair: the first frame of an event-loop turn
// corks the socket, later frames of that turn join it, the check phase uncorks it and the peer receives every
// byte in order; a socket ended while corked still delivers what was written.
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { coalesceWrites } from '../src/write-coalescing.js'

let server: Server | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  const s = server
  server = undefined
  if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
})

/** A connected client socket and a promise of everything the server side reads until the client ends. */
async function pair(): Promise<{ client: Socket; received: Promise<string> }> {
  let resolveReceived: (text: string) => void = () => undefined
  const received = new Promise<string>((r) => (resolveReceived = r))
  server = createServer((peer) => {
    sockets.push(peer)
    const chunks: Buffer[] = []
    peer.on('data', (c: Buffer) => chunks.push(c))
    peer.on('end', () => resolveReceived(Buffer.concat(chunks).toString('utf8')))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
  sockets.push(client)
  await once(client, 'connect')
  return { client, received }
}

describe('coalesceWrites', () => {
  it('holds the writes of one turn on a corked socket and releases them in the check phase, in order', async () => {
    const { client, received } = await pair()
    const beforeWrite = coalesceWrites(client)
    for (const part of ['one,', 'two,', 'three']) {
      beforeWrite()
      client.write(part)
    }
    expect(client.writableCorked).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(client.writableCorked).toBe(0)
    beforeWrite()
    client.write(',four')
    expect(client.writableCorked).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(client.writableCorked).toBe(0)
    client.end()
    expect(await received).toBe('one,two,three,four')
  })

  it('delivers what a corked socket holds when it is ended in the same turn', async () => {
    const { client, received } = await pair()
    const beforeWrite = coalesceWrites(client)
    beforeWrite()
    client.write('last words')
    client.end()
    expect(await received).toBe('last words')
  })
})
