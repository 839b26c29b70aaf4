// Proves the TCP relay halves never log what they must not (core §3.1 SEC-LOG-01, IICP-DIR §7.3/§7.5): with a
// capturing logger on the relay, its accept port and the worker, a ticketed bind, a task, a streamed task, a refused
// rebind and a close produce records, and none holds the payload, the answer, the bind ticket or the raw source address.
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, randomHex, signRelayBindTicket } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { createTcpRelayWorker } from '@iicp/relay'
import { post, task } from './consumer.js'
import { startTcpRelay } from './tcp-harness.js'

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

describe('TCP relay logging', () => {
  it('records sessions without payloads, answers, tickets or source addresses', async () => {
    const records: unknown[] = []
    const key = await generateSigningKeyPair()
    const relay = await startTcpRelay(
      { allowUnsignedBinds: false, nodeId: 'relay-1', directoryKeyHex: key.publicKeyHex, logger: capturingLogger(records) },
      { logger: capturingLogger(records) },
    )
    cleanups.push(() => relay.close())
    const tickets: string[] = []
    const ticketProvider = async (): Promise<string> => {
      const iat = Math.floor(Date.now() / 1000)
      const t = await signRelayBindTicket({ v: 1, typ: 'relay-bind-ticket', jti: randomHex(16), iss: 'dir', sub: 'log-tcp', aud: 'relay-1', iat, exp: iat + 60 }, key)
      tickets.push(t)
      return t
    }
    const secret = 'TOP-SECRET-PROMPT-4711'
    const worker = createTcpRelayWorker({
      relay: relay.address, workerId: 'log-tcp', logger: capturingLogger(records), ticketProvider,
      handleTask: async (body) => ({ status: 200, body: { answer: `SECRET-ANSWER-${body.length}` } }),
      handleStream: async function* () {
        yield { delta: 'SECRET-CHUNK' }
      },
    })
    cleanups.push(() => worker.close())
    await worker.start()
    expect((await post(`${worker.relayEndpoint}/v1/task`, task(secret))).status).toBe(200)
    expect((await post(`${worker.relayEndpoint}/v1/task`, task(secret), { accept: 'text/event-stream' })).text).toContain('SECRET-CHUNK')
    const second = createTcpRelayWorker({ relay: relay.address, workerId: 'log-tcp', logger: capturingLogger(records), ticketProvider, handleTask: async () => ({ status: 200, body: {} }) })
    await expect(second.start()).rejects.toMatchObject({ code: 'IICP-E038' })
    await worker.close()

    const text = JSON.stringify(records)
    expect(text).toContain('relay session bound')
    expect(text).toContain('relay bind refused')
    expect(text).toContain('relay accept port listening')
    expect(text).not.toContain(secret)
    expect(text).not.toContain('SECRET-ANSWER')
    expect(text).not.toContain('SECRET-CHUNK')
    expect(text).not.toContain('"127.0.0.1"')
    for (const t of tickets) expect(text).not.toContain(t.slice(0, 20))
  })
})
