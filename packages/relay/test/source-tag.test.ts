// The tag a relay logs for a worker's source address (IICP-DIR §7.3) is keyed: one running relay tags an address
// the same way every time, so its log lines correlate, while a relay started afresh (a new module graph, as a new
// process has) tags it differently, and neither matches the plain SHA-256 prefix anyone could brute-force back.
import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Logger } from '@iicp/protocol'
import { startRelayServer } from '@iicp/relay'
import type { StartedRelayServer } from '@iicp/relay'
import { post } from './consumer.js'

type Start = typeof startRelayServer

function boundTags(records: Array<Record<string, unknown>>): unknown[] {
  return records.filter((r) => r.msg === 'relay session bound').map((r) => r.source)
}

function capturingLogger(records: Array<Record<string, unknown>>): Logger {
  const at = (level: string) => (obj: object, msg?: string): void => {
    records.push({ level, ...obj, msg })
  }
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger }
  return logger
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

/** Start a relay with `start`, bind `workers` unsigned long-poll workers from 127.0.0.1, return the logged tags. */
async function tagsFrom(start: Start, workers: string[]): Promise<unknown[]> {
  const records: Array<Record<string, unknown>> = []
  const relay: StartedRelayServer = await start({ allowUnsignedBinds: true, logger: capturingLogger(records) })
  cleanups.push(() => relay.close())
  for (const worker_id of workers) expect((await post(`${relay.url}/v1/relay/bind`, { worker_id })).status).toBe(200)
  return boundTags(records)
}

describe('relay source tags', () => {
  it('are stable within one relay, differ in a relay started afresh, and are not the unkeyed hash', async () => {
    const first = await tagsFrom(startRelayServer, ['tag-a', 'tag-b'])
    expect(first).toHaveLength(2)
    expect(first[0]).toMatch(/^[0-9a-f]{12}$/)
    expect(first[1]).toBe(first[0])

    vi.resetModules()
    const fresh = (await import('@iicp/relay')) as { startRelayServer: Start }
    expect(fresh.startRelayServer).not.toBe(startRelayServer)
    const second = await tagsFrom(fresh.startRelayServer, ['tag-c'])
    expect(second).toHaveLength(1)
    expect(second[0]).toMatch(/^[0-9a-f]{12}$/)
    expect(second[0]).not.toBe(first[0])

    for (const address of ['127.0.0.1', '::ffff:127.0.0.1']) {
      const unkeyed = createHash('sha256').update(address).digest('hex').slice(0, 12)
      expect([first[0], second[0]]).not.toContain(unkeyed)
    }
  })
})
