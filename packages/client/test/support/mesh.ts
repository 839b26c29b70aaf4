/**
 * A real loopback mesh for client tests: the in-repo @iicp/directory (local mode) plus test nodes that
 * register over real HTTP, the way a provider does (the directory probes their /iicp/health first).
 */
import { request } from 'undici'
import { startDirectory } from '@iicp/directory'
import { startTestNode } from './test-node.js'
import type { TestNode, TestNodeOptions } from './test-node.js'

export interface Mesh {
  readonly directoryUrl: string
  readonly origin: string
  readonly nodes: TestNode[]
  close(): Promise<void>
}

/** POST /v1/register for one test node; resolves with the directory's ACK. */
export async function registerNode(apiUrl: string, node: TestNode): Promise<Record<string, unknown>> {
  const res = await request(`${apiUrl}/v1/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(node.registerBody()),
  })
  const body = (await res.body.json()) as Record<string, unknown>
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${JSON.stringify(body)}`)
  return body
}

/** Start the directory and the nodes (registered in order). */
export async function startMesh(nodeOptions: TestNodeOptions[]): Promise<Mesh> {
  const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
  const nodes: TestNode[] = []
  try {
    for (const o of nodeOptions) {
      const node = await startTestNode(o)
      nodes.push(node)
      await registerNode(dir.apiUrl, node)
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()))
    await dir.close()
    throw err
  }
  return {
    directoryUrl: dir.apiUrl,
    origin: dir.url,
    nodes,
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()))
      await dir.close()
    },
  }
}
