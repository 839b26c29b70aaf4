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

async function hold(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve)
  })
  return { server, port: (server.address() as { port: number }).port }
}

/** Hold a run of `count` consecutive loopback ports (a stand-in for a fully used 9484–9490 band). */
async function holdRun(count: number): Promise<{ base: number; servers: Server[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    const servers: Server[] = []
    try {
      for (let i = 0; i < count; i++) servers.push((await hold(base + i)).server)
      return { base, servers }
    } catch {
      for (const s of servers) s.close()
    }
  }
  throw new Error('no free run of ports')
}

describe('startLocalMesh', () => {
  it('resolves with every node registered and discoverable, and closes them before the directory', async () => {
    const mesh = await startLocalMesh({ backends: [echo(), echo({ models: ['echo-2'] })], nodeBasePort: 0 })
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
      const mesh = await startLocalMesh({ backends: [echo()], directoryPort: taken.port, nodeBasePort: 0 })
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
      const err: unknown = await startLocalMesh({ backends: [echo()], directoryPort: taken.port, fallbackToAnyPort: false, nodeBasePort: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isIicpError(err) && err.code).toBe('invalid_config')
      expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)`)
    } finally {
      taken.server.close()
    }
  })

  it('gives a node any free port when the whole port band is taken', async () => {
    const band = await holdRun(7)
    try {
      const mesh = await startLocalMesh({ backends: [echo()], nodeBasePort: band.base })
      try {
        const port = mesh.nodes[0]?.port ?? 0
        expect(port).toBeGreaterThan(0)
        expect(port < band.base || port > band.base + 6).toBe(true)
        expect(mesh.nodes[0]?.isRegistered).toBe(true)
      } finally {
        await mesh.close()
      }
    } finally {
      for (const s of band.servers) s.close()
    }
  })
})
