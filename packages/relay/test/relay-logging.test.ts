// Proves the relay and worker never log what they must not (core §3.1 SEC-LOG-01, IICP-DIR §7.3/§7.5): with a
// capturing logger on both halves, a ticketed bind, tasks over both transports, a refused bind and an unbind
// produce log records, and none of them holds the task payload, the answer, a session token, the bind ticket
// or the raw source address.
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, randomHex, signRelayBindTicket } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { RelayWorker, StartedRelayServer } from '@iicp/relay'
import { post, task } from './consumer.js'

function capturingLogger(records: unknown[], bindings: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (obj: object, msg?: string): void => {
    records.push({ level, ...bindings, ...obj, msg })
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => capturingLogger(records, { ...bindings, ...b }) }
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

describe('relay logging', () => {
  it('records sessions without payloads, answers, tokens, tickets or source addresses', async () => {
    const records: unknown[] = []
    const key = await generateSigningKeyPair()
    const relay: StartedRelayServer = await startRelayServer({
      nodeId: 'relay-1', directoryKeyHex: key.publicKeyHex, logger: capturingLogger(records), bindRateLimit: { max: 2, windowMs: 60_000 },
    })
    cleanups.push(() => relay.close())
    const tickets: string[] = []
    const secret = 'TOP-SECRET-PROMPT-4711'
    const workers: RelayWorker[] = []
    for (const transport of ['ws', 'http'] as const) {
      const workerId = `log-${transport}`
      const w = createRelayWorker({
        relayUrl: relay.url, workerId, transport, logger: capturingLogger(records),
        ticketProvider: async () => {
          const iat = Math.floor(Date.now() / 1000)
          const t = await signRelayBindTicket({ v: 1, typ: 'relay-bind-ticket', jti: randomHex(16), iss: 'dir', sub: workerId, aud: 'relay-1', iat, exp: iat + 60 }, key)
          tickets.push(t)
          return t
        },
        handleTask: async (body) => ({ status: 200, body: { answer: `SECRET-ANSWER-${body.length}` } }),
      })
      cleanups.push(() => w.close())
      await w.start()
      workers.push(w)
      const res = await post(`${w.relayEndpoint}/v1/task`, task(secret))
      expect(res.status).toBe(200)
    }
    const refused = await post(`${relay.url}/v1/relay/bind`, { worker_id: 'log-x' })
    expect(refused.status).toBe(401)
    expect((await post(`${relay.url}/v1/relay/bind`, { worker_id: 'log-y', bind_ticket: 'x' })).status).toBe(401)
    // A third new bind from this address trips the rate limit, which is logged.
    const iat = Math.floor(Date.now() / 1000)
    const third = await signRelayBindTicket({ v: 1, typ: 'relay-bind-ticket', jti: randomHex(16), iss: 'dir', sub: 'log-z', aud: '*', iat, exp: iat + 60 }, key)
    tickets.push(third)
    expect((await post(`${relay.url}/v1/relay/bind`, { worker_id: 'log-z', bind_ticket: third })).status).toBe(429)
    for (const w of workers) await w.close()

    const text = JSON.stringify(records)
    expect(records.length).toBeGreaterThan(3)
    expect(text).toContain('relay session bound')
    expect(text).toContain('relay bind rate limited')
    expect(text).toContain('relay bind refused')
    expect(text).not.toContain(secret)
    expect(text).not.toContain('SECRET-ANSWER')
    expect(text).not.toContain('127.0.0.1')
    for (const t of tickets) expect(text).not.toContain(t.slice(0, 20))
    expect(text).not.toMatch(/"[0-9a-f]{32}"/)
  })
})
