/**
 * What this proves: arbitrary bytes on a native session never crash the node or leave it wedged. After a valid INIT,
 * random frames (valid headers with random types and payloads, or plain garbage) get an answer or a CLOSE, and the
 * same node keeps serving a fresh native session and HTTP afterwards (fast-check, on a real socket).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { call } from './support/http.js'
import { nativePeer } from './support/native-peer.js'

let node: IicpNode
beforeAll(async () => {
  node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo() } as NodeOptions)
  await node.serve()
})
afterAll(async () => {
  await node.close()
})

const frameArb = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 3 }), payload: fc.uint8Array({ maxLength: 64 }) }).map(({ type, flags, payload }) => {
    const head = Buffer.from([0x49, 0x49, 0x43, 0x50, 1, type, flags, 0, 0, 0, 0, 0])
    head.writeUInt32BE(payload.length, 8)
    return Buffer.concat([head, payload])
  }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
)

describe('native session robustness', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('answers or closes on random frames and keeps serving afterwards', { timeout: 120_000 }, async () => {
    await fc.assert(fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 4 }), async (frames) => {
      const p = await nativePeer(node.port as number)
      p.send({ kind: 'init', protocolVersion: 1 })
      await p.next()
      for (const f of frames) p.send(f)
      // Make the node answer something we can wait for (or it has closed already).
      p.send({ kind: 'ping', echo: Buffer.from('end') })
      const outcome = await Promise.race([
        (async () => { for (;;) { const m = await p.next(); if (m.kind === 'pong' || m.kind === 'close') return m.kind } })().catch(() => 'closed'),
        p.ended.then(() => 'closed'),
      ])
      p.close()
      expect(['pong', 'close', 'closed']).toContain(outcome)
    }), { numRuns: 40 })
    const fresh = await nativePeer(node.port as number)
    fresh.send({ kind: 'init', protocolVersion: 1 })
    expect((await fresh.next()).kind).toBe('ack')
    fresh.close()
    expect((await call(`${node.url}/iicp/health`)).status).toBe(200)
  })
})
