/**
 * startLocalMesh, the engine of `iicp mesh`, in-process: nodes are registered and discoverable when it
 * resolves, a taken directory port falls back to a free one only when allowed, and close() is idempotent,
 * deregisters every node before the directory stops, and leaves the ports free.
 */
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { CHAT_INTENT, IicpClient } from '@iicp/client'
import { echo } from '@iicp/node'
import { isIicpError } from '@iicp/protocol'
import { describe, expect, it } from 'vitest'
import { startLocalMesh } from '../src/local-mesh.js'

async function hold(): Promise<{ server: Server; port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

describe('startLocalMesh', () => {
  it('resolves with every node registered and discoverable, and closes them before the directory', async () => {
    const mesh = await startLocalMesh({ backends: [echo(), echo({ models: ['echo-2'] })] })
    const client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true })
    try {
      expect(mesh.nodes.map((n) => n.isRegistered)).toEqual([true, true])
      const list = await client.discover(CHAT_INTENT)
      expect(list.nodes.map((n) => n.node_id).sort()).toEqual(mesh.nodes.map((n) => n.nodeId).sort())
      expect(mesh.directory.directory.activeNodeCount).toBe(2)
    } finally {
      await client.close()
    }
    const deregistered: number[] = []
    for (const n of mesh.nodes) n.once('closed', () => deregistered.push(mesh.directory.directory.nodeCount))
    await Promise.all([mesh.close(), mesh.close()])
    await mesh.close()
    expect(mesh.nodes.map((n) => n.state)).toEqual(['closed', 'closed'])
    expect(mesh.nodes.map((n) => n.isRegistered)).toEqual([false, false])
    // When each node reports closed, its own deregistration already reached the (still running) directory.
    expect(deregistered).toHaveLength(2)
    expect(Math.max(...deregistered)).toBeLessThanOrEqual(1)
    expect(Math.min(...deregistered)).toBe(0)
  })

  it('takes a free directory port when the preferred one is taken and fallback is allowed', async () => {
    const taken = await hold()
    try {
      const mesh = await startLocalMesh({ backends: [echo()], directoryPort: taken.port })
      try {
        expect(mesh.directory.port).not.toBe(taken.port)
        expect(mesh.directoryUrl).toBe(`http://127.0.0.1:${mesh.directory.port}/api`)
      } finally {
        await mesh.close()
      }
    } finally {
      taken.server.close()
    }
  })

  it('fails with invalid_config naming the port when fallback is off', async () => {
    const taken = await hold()
    try {
      const err: unknown = await startLocalMesh({ backends: [echo()], directoryPort: taken.port, fallbackToAnyPort: false }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isIicpError(err) && err.code).toBe('invalid_config')
      expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)`)
    } finally {
      taken.server.close()
    }
  })
})
