/**
 * Strict on write (issue 2; wire.md §2.3): the task responses our node actually sends over real HTTP pass
 * TaskResponseWriteSchema — a plaintext success, and an IICP-CX reply both as sent (`status:"encrypted"`) and opened.
 */
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { TaskResponseWriteSchema, decryptResponse, encryptRequest, safeParseWire } from '@iicp/protocol'
import type { IicpConfResp } from '@iicp/protocol'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { CHAT, call, chatTask, taskId } from './support/http.js'

const fixture = JSON.parse(await readFile(new URL('../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  node_key: { private_key: string; public_key: { key: string; key_id: string } }
}

const nodes: IicpNode[] = []
async function start(opts: Partial<NodeOptions> = {}): Promise<IicpNode> {
  const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo({ models: ['echo-1'] }), ...opts } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return node
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

function writeProblems(body: unknown): string[] {
  const r = safeParseWire(TaskResponseWriteSchema, body)
  return r.ok ? [] : Object.entries(r.error.fields ?? { '': [r.error.message] }).map(([k, v]) => `${k}: ${v.join(', ')}`)
}

describe("the node's task responses pass the strict write schema", () => {
  it('a plaintext success answer', { timeout: 60_000 }, async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(200)
    expect((res.json as { status: string }).status).toBe('success')
    expect(writeProblems(res.json)).toEqual([])
  })

  it('an encrypted answer, as sent and once opened', { timeout: 60_000 }, async () => {
    const node = await start({ cx: true, cxPrivateKey: fixture.node_key.private_key })
    const id = taskId()
    const payload = { messages: [{ role: 'user', content: 'hello mesh' }] }
    const recipient = { algorithm: 'X25519' as const, encoding: 'base64url' as const, ...fixture.node_key.public_key, features: ['response_encryption_v1'] }
    const sealed = await encryptRequest({ payloadJson: JSON.stringify(payload), taskId: id, intent: CHAT, recipient })
    const res = await call(`${node.url}/v1/task`, {
      body: { task_id: id, intent: CHAT, iicp_conf: sealed.iicpConf, cx_response_encryption: 'required', constraints: { timeout_ms: 5000 } },
    })
    expect(res.status).toBe(200)
    expect((res.json as { status: string }).status).toBe('encrypted')
    expect(writeProblems(res.json)).toEqual([])
    const opened = await decryptResponse((res.json as { iicp_conf_resp: IicpConfResp }).iicp_conf_resp, sealed.responseContext)
    expect((opened as { status: string }).status).toBe('success')
    expect(writeProblems(opened)).toEqual([])
  })

  it('the check has teeth: the reference node\'s `completed` status is refused', () => {
    expect(writeProblems({ task_id: 't-1', status: 'completed', result: {}, error: null, metrics: { latency_ms: 1 } })).not.toEqual([])
  })
})
