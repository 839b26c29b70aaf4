/**
 * Secrets stay secret (spec SDK-06; wire.md §0.2 SEC-LOG-01): the node token and task payloads never appear in
 * log lines, error messages, serialised errors, JSON.stringify(client) or util.inspect(client), even when a node
 * echoes the token back in its error message.
 */
import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError, Logger } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startTestNode } from './support/test-node.js'

const LONG_TOKEN = 'tok-SECRET-4f9a2c7e8b1d3a5f6e0c9b8a7d6e5f4a'
const TOKEN = LONG_TOKEN
const PROMPT = 'PROMPT-SECRET-do-not-log'
const CHAT = 'urn:iicp:intent:llm:chat:v1'

function capturingLogger(lines: string[], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (obj: object, msg?: string): void => {
    lines.push(JSON.stringify({ level, ...bindings, ...obj, msg }))
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => capturingLogger(lines, { ...bindings, ...b }) }
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

describe('redaction', () => {
  for (const TOKEN of [LONG_TOKEN, 'hunter2']) it(`spec SDK-06: the node token (${TOKEN.length} chars) never appears in logs, error messages or serialised errors when a task fails`, async () => {
    const node = await startTestNode({
      queue: [{ kind: 'status', status: 503, body: { error: { code: 'service_unavailable', message: `token ${TOKEN} is busy` } } }],
      fallback: { kind: 'status', status: 401, body: { error: { code: 'unauthorized', message: `Invalid credentials ${TOKEN}` } } },
    })
    cleanups.push(() => node.close())
    const lines: string[] = []
    const client = new IicpClient({ nodeToken: TOKEN, allowPrivateEndpoints: true, allowPlaintext: true, logger: capturingLogger(lines), sleep: async () => {} })
    cleanups.push(() => client.close())
    let err: IicpError | undefined
    try {
      await client.submit(CHAT, { messages: [{ role: 'user', content: PROMPT }] }, { node: node.summary() })
    } catch (e) {
      if (isIicpError(e)) err = e
    }
    expect(err?.code).toBe('unauthorized')
    expect(node.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(lines.length).toBeGreaterThan(0)
    const surfaces = [
      ...lines, err?.message, String(err), JSON.stringify(err), JSON.stringify(err?.extra), inspect(err?.extra, { depth: 5 }),
    ]
    for (const s of surfaces) {
      expect(s).not.toContain(TOKEN)
      expect(s).not.toContain(PROMPT)
    }
    expect(err?.message).toMatch(/\[redacted\]/i)
  })

  it('spec SDK-06: JSON.stringify(client), util.inspect(client) and client.config never show the token', () => {
    const client = new IicpClient({ nodeToken: TOKEN })
    cleanups.push(() => client.close())
    for (const s of [JSON.stringify(client), inspect(client, { depth: 10, showHidden: true }), JSON.stringify(client.config), String(client)]) {
      expect(s).not.toContain(TOKEN)
    }
    expect(client.config.nodeToken).toBe('[redacted]')
  })

  it('logs nothing by default (the silent logger) and never throws from logging', async () => {
    const node = await startTestNode({ queue: [{ kind: 'status', status: 503 }] })
    cleanups.push(() => node.close())
    const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, sleep: async () => {} })
    cleanups.push(() => client.close())
    const r = await client.submit(CHAT, { messages: [] }, { node: node.summary() })
    expect(r.attempts).toBe(2)
  })
})
