/**
 * What this proves: malformed input never breaks the node. A fuzz loop of garbage bodies, wrong shapes
 * and broken HTTP over real sockets only ever yields JSON catalogue errors, and the node keeps serving;
 * the hand-rolled fast check never accepts a body the protocol's TaskRequestSchema rejects; and the
 * handler type refuses an already-wrapped `{ result }`.
 */
import { connect } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { ERROR_CATALOGUE, TaskRequestSchema } from '@iicp/protocol'
import { IicpNode, echo, normalizeResult } from '../src/index.js'
import type { InnerResult, TaskHandler } from '../src/index.js'
import { fastValidTask } from '../src/task-handler.js'
import { CHAT, call, chatTask } from './support/http.js'

let node: IicpNode
beforeAll(async () => {
  node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), maxBodyBytes: 4096 })
  await node.serve()
})
afterAll(async () => {
  await node.close()
})

const codes = new Set(Object.keys(ERROR_CATALOGUE))

function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(data))
    let out = ''
    s.on('data', (c: Buffer) => { out += c.toString('utf8') })
    s.on('end', () => resolve(out))
    s.on('error', reject)
  })
}

describe('fuzzing POST /v1/task', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('answers 300 malformed bodies with JSON catalogue errors and keeps serving', { timeout: 120_000 }, async () => {
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({ task_id: fc.oneof(fc.uuid(), fc.string()), intent: fc.oneof(fc.constant(CHAT), fc.string()), payload: fc.jsonValue({ maxDepth: 2 }), constraints: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string({ minLength: 4100, maxLength: 5000 }),
    )
    await fc.assert(fc.asyncProperty(body, async (b) => {
      const res = await call(`${node.url}/v1/task`, { body: b })
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      if (res.status === 200) {
        expect(res.json).toMatchObject({ status: 'success', error: null })
      } else {
        const err = (res.json as { error: { code: string; message: string } }).error
        expect(codes.has(err.code) || err.code.startsWith('IICP-')).toBe(true)
        expect(res.text).not.toMatch(/\n\s+at |node_modules|\/src\//)
      }
    }), { numRuns: 300 })
    expect((await call(`${node.url}/v1/task`, { body: chatTask() })).status).toBe(200)
  })

  it('answers broken HTTP with a JSON 400 and keeps serving', async () => {
    const port = node.port as number
    const answer = await raw(port, 'POST /v1/task HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n{}')
    expect(answer).toMatch(/^HTTP\/1\.1 400/)
    expect(answer).toContain('application/json')
    expect(answer).toContain('"code":"validation_error"')
    const chunked = await raw(port, `POST /v1/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'1000\r\n' + 'a'.repeat(4096) + '\r\n'}1\r\nb\r\n0\r\n\r\n`)
    expect(chunked).toMatch(/^HTTP\/1\.1 413/)
    expect((await call(`${node.url}/iicp/health`)).status).toBe(200)
  })
})

describe('fast validation', () => {
  it('never accepts a body that TaskRequestSchema rejects', () => {
    const served = new Set([CHAT])
    const candidate = fc.record({
      task_id: fc.oneof(fc.uuid({ version: 4 }), fc.uuid(), fc.string()),
      intent: fc.oneof(fc.constant(CHAT), fc.constant('urn:iicp:intent:LLM:chat:v1'), fc.string()),
      payload: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 })), fc.jsonValue({ maxDepth: 1 })),
      constraints: fc.record({ timeout_ms: fc.oneof(fc.integer({ min: -10, max: 400_000 }), fc.double(), fc.string()), qos: fc.oneof(fc.constantFrom('batch', 'interactive', 'fast'), fc.string()) }, { requiredKeys: [] }),
      trace: fc.record({ trace_id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer()), span_id: fc.string() }, { requiredKeys: [] }),
      auth: fc.record({ node_token: fc.oneof(fc.string(), fc.integer()) }, { requiredKeys: [] }),
      nonce: fc.oneof(fc.string({ maxLength: 200 }), fc.integer()),
    }, { requiredKeys: [] })
    let accepted = 0
    fc.assert(fc.property(candidate, (b) => {
      if (fastValidTask(b, served)) {
        accepted++
        expect(TaskRequestSchema.safeParse(b).success).toBe(true)
      }
    }), { numRuns: 3000 })
    expect(fastValidTask(chatTask(), served)).toBe(true)
    expect(accepted).toBeGreaterThan(0)
  })
})

describe('handler contract types', () => {
  it('refuses an envelope at compile time and unwraps one at run time', () => {
    // @ts-expect-error a handler must return the inner result, never `{ result: … }`
    const wrapped: TaskHandler = () => ({ result: { choices: [] } })
    // @ts-expect-error also when the envelope comes back from a promise
    const wrappedAsync: TaskHandler = async () => ({ result: 'x', status: 'success' })
    const inner: TaskHandler = async () => ({ choices: [{ message: { role: 'assistant', content: 'hi' } }] })
    interface ChatCompletion { id: string; choices: unknown[] }
    const completion: ChatCompletion = { id: 'c', choices: [] }
    expectTypeOf(completion).toMatchTypeOf<InnerResult>()
    expect([wrapped, wrappedAsync, inner].every((h) => typeof h === 'function')).toBe(true)
    expect(normalizeResult({ result: { a: 1 }, status: 'success', task_id: 't' })).toEqual({ a: 1 })
    expect(normalizeResult({ result: { a: 1 }, extra: true })).toEqual({ result: { a: 1 }, extra: true })
    expect(normalizeResult(undefined)).toBeNull()
  })
})
