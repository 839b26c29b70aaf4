// Proves the relay's wire parsers and options: captured reference bodies parse, malformed bodies become
// `validation_error` naming the field (never a raw exception), and bad options fail at construction with
// `invalid_config` naming the option.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import {
  createRelayServer, createRelayWorker, parseRelayBindRequest, parseRelayBindResponse, parseRelayPullResponse, parseRelayResultRequest,
} from '@iicp/relay'

const exchanges = (JSON.parse(readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  captures: { http_longpoll_relay: { exchanges: Array<{ path: string; status: number; request: { json?: unknown }; response: { json?: unknown } }> } }
}).captures.http_longpoll_relay.exchanges

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return isIicpError(err) ? err.code : 'not-an-IicpError'
  }
  return undefined
}

describe('relay wire parsers', () => {
  it('parse every captured reference bind, pull and result body', () => {
    for (const e of exchanges) {
      if (e.path === '/v1/relay/bind') expect(parseRelayBindRequest(e.request.json).worker_id).toBe('cap-http-worker-1')
      if (e.path === '/v1/relay/bind' && e.status === 200) expect(parseRelayBindResponse(e.response.json).poll_timeout_s).toBe(25)
      if (e.path === '/v1/relay/pull' && e.status === 200) expect(parseRelayPullResponse(e.response.json).call_id).toMatch(/^[0-9a-f-]{36}$/)
      if (e.path === '/v1/relay/result') expect(parseRelayResultRequest(e.request.json).http_status).toBeUndefined()
    }
  })

  it('name the offending field of a malformed bind', () => {
    let fields: Record<string, string[]> | undefined
    try {
      parseRelayBindRequest({ worker_id: 'has space', models: 'm' })
    } catch (err) {
      if (isIicpError(err)) fields = err.fields
    }
    expect(Object.keys(fields ?? {}).sort()).toEqual(['models', 'worker_id'])
  })

  it('answer any JSON value with a parse or a validation_error, never another exception', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      for (const parse of [parseRelayBindRequest, parseRelayResultRequest]) {
        expect(['validation_error', undefined]).toContain(codeOf(() => parse(value)))
      }
      for (const parse of [parseRelayBindResponse, parseRelayPullResponse]) {
        expect(['invalid_response', undefined]).toContain(codeOf(() => parse(value)))
      }
    }))
  })
})

describe('relay options', () => {
  it('refuse out-of-range server options with invalid_config naming the option', () => {
    expect(codeOf(() => createRelayServer({ maxSessions: 0 }))).toBe('invalid_config')
    expect(codeOf(() => createRelayServer({ pollTimeoutMs: 30_000 }))).toBe('invalid_config')
    expect(codeOf(() => createRelayServer({ directoryKeyHex: 'nothex' }))).toBe('invalid_config')
    expect(codeOf(() => createRelayServer({ transports: [] }))).toBe('invalid_config')
    try {
      createRelayServer({ pollTimeoutMs: 30_000 })
    } catch (err) {
      expect((err as Error).message).toBe('pollTimeoutMs must be an integer from 1 to 25000')
    }
  })

  it('refuse a worker without a valid relay URL, worker id or transport', () => {
    const handleTask = async (): Promise<{ status: number; body: object }> => ({ status: 200, body: {} })
    expect(codeOf(() => createRelayWorker({ relayUrl: 'ftp://x', workerId: 'w', handleTask }))).toBe('invalid_config')
    expect(codeOf(() => createRelayWorker({ relayUrl: 'http://127.0.0.1:1', workerId: 'a/b', handleTask }))).toBe('invalid_config')
    // @ts-expect-error: the transport name is checked at run time too
    expect(codeOf(() => createRelayWorker({ relayUrl: 'http://127.0.0.1:1', workerId: 'w', transport: 'tcp', handleTask }))).toBe('invalid_config')
  })
})
