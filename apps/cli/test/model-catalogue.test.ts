/**
 * The proxy's model catalogue against a real directory with an injected clock: a snapshot is reused until
 * its TTL passes (a new node stays unseen until then), concurrent callers share one lookup, and a failed
 * lookup is not cached.
 */
import { CHAT_INTENT, IicpClient } from '@iicp/client'
import { startDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { describe, expect, it } from 'vitest'
import { ModelCatalogue } from '../src/proxy/model-catalogue.js'
import { closedPort } from './run-cli.js'

describe('ModelCatalogue', () => {
  it('reuses a snapshot until the TTL passes, then sees newly registered models', async () => {
    const dir = await startDirectory({ port: 0 })
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, routeCacheMs: 0 })
    let now = 1_000_000
    const catalogue = new ModelCatalogue(client, CHAT_INTENT, 2000, () => now)
    const node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['late-model'] }), host: '127.0.0.1', port: 0, persistState: false })
    try {
      const [a, b] = await Promise.all([catalogue.get(), catalogue.get()])
      expect(a).toBe(b)
      expect(a).toEqual({ models: new Set(), nodes: 0 })
      await node.serve()
      now += 1999
      expect((await catalogue.get()).nodes).toBe(0)
      now += 1
      const fresh = await catalogue.get()
      expect(fresh.nodes).toBe(1)
      expect([...fresh.models]).toEqual(['late-model'])
    } finally {
      await node.close()
      await client.close()
      await dir.close()
    }
  })

  it('does not cache a failed lookup', async () => {
    const port = await closedPort()
    const client = new IicpClient({ directoryUrl: `http://127.0.0.1:${port}/api`, allowPrivateEndpoints: true })
    const catalogue = new ModelCatalogue(client, CHAT_INTENT, 60_000, () => 0)
    try {
      const first = catalogue.get()
      await expect(first).rejects.toMatchObject({ code: 'connection_failed' })
      const second = catalogue.get()
      expect(second).not.toBe(first)
      await expect(second).rejects.toMatchObject({ code: 'connection_failed' })
    } finally {
      await client.close()
    }
  })
})
