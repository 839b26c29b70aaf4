/**
 * Whatever a node answers, submit() ends in a result or an IicpError with a catalogue-shaped code (SDK-ERR-01):
 * fast-check drives a real node through random statuses, content types and bodies (JSON envelopes with odd
 * shapes, truncated JSON, HTML, empty), and the client never leaks a raw exception.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
let node: TestNode
let client: IicpClient
beforeAll(async () => {
  node = await startTestNode()
  client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, maxAttempts: 1, breakerFailureThreshold: 100, sleep: async () => {} })
})
afterAll(async () => {
  await client.close()
  await node.close()
})

const jsonish = fc.oneof(
  fc.json(),
  fc.record({ error: fc.oneof(fc.string(), fc.record({ code: fc.string(), message: fc.string() }), fc.constant(null)) }).map((v) => JSON.stringify(v)),
  fc.record({ task_id: fc.string(), status: fc.constantFrom('success', 'error', 'timeout', 'encrypted', 'completed', 'weird'), result: fc.anything() }).map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constant('<html><body>oops</body></html>'),
  fc.constant(''),
)

describe('fuzzed node replies', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('every reply becomes a result or an IicpError, never a raw exception', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(200, 201, 204, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504), jsonish, async (status, body) => {
        node.push({ kind: 'status', status, body, headers: { 'content-type': 'application/json' } })
        try {
          const r = await client.submit(CHAT, { messages: [] }, { node: node.summary() })
          expect(r.status).toBe('success')
        } catch (err) {
          expect(isIicpError(err)).toBe(true)
          expect((err as { code: string }).code).toMatch(/^[A-Za-z0-9_.-]+$/)
        }
      }),
      { numRuns: 150 },
    )
  })
})
