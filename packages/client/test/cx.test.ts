/**
 * IICP-CX interoperability with the reference Python SDK: our test node decrypts and encrypts exactly the Python
 * way (python-cx.ts, checked here against the captured fixture), so a request our client encrypts decrypting
 * there, and a response encrypted there decrypting in our client, prove both directions. Also: plaintext replies
 * refused after response encryption was advertised, keyless nodes refused unless plaintext is allowed.
 */
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'
import { pyDecryptRequest } from './support/python-cx.js'
import { FIXTURE_NODE_KEY, startTestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const fx = JSON.parse(readFileSync(new URL('../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  cases: { request_body: { task_id: string; intent: string; iicp_conf: Record<string, unknown> }; expected_payload: unknown }[]
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a rejection')
}

describe('IICP-CX', () => {
  it('the test node\'s Python-method decryption opens every request captured from the Python SDK', () => {
    for (const c of fx.cases) {
      const { payload } = pyDecryptRequest(FIXTURE_NODE_KEY, c.request_body.iicp_conf, c.request_body.task_id, c.request_body.intent)
      expect(payload).toEqual(c.expected_payload)
    }
  })

  it('encrypts to a node advertising cx_public_key (found through the real directory); the node decrypts it the Python way', async () => {
    const mesh: Mesh = await startMesh([{ cx: true }])
    cleanups.push(() => mesh.close())
    const client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true })
    cleanups.push(() => client.close())
    const payload = { messages: [{ role: 'user', content: 'secret prompt' }], model: 'echo-1' }
    const r = await client.submit(CHAT, payload)
    const seen = mesh.nodes[0]?.requests[0]
    expect(seen?.body).not.toHaveProperty('payload')
    expect(seen?.body.iicp_conf).toMatchObject({ version: 1, recipient_key_id: FIXTURE_NODE_KEY.keyId })
    expect(seen?.body.cx_response_encryption).toBe('required')
    expect(JSON.stringify(seen?.body)).not.toContain('secret prompt')
    expect(seen?.payload).toEqual(payload)
    // The reverse direction: the node's Python-style encrypted response opened in our client.
    expect(r.encrypted).toBe(true)
    expect((r.result as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('echo: secret prompt')
  })

  it('refuses a plaintext reply from a node that advertised response encryption (IICP-CX-RESP-REQUIRED)', async () => {
    const node = await startTestNode({ cx: true, fallback: { kind: 'plaintext-reply' } })
    cleanups.push(() => node.close())
    const client = new IicpClient({ allowPrivateEndpoints: true, maxAttempts: 1 })
    cleanups.push(() => client.close())
    const err = await failure(client.submit(CHAT, { messages: [] }, { node: node.summary() }))
    expect(err.code).toBe('no_available_node')
    expect((err.extra?.attempts as { code: string }[]).map((a) => a.code)).toEqual(['IICP-CX-RESP-REQUIRED'])
  })

  it('refuses a keyless node unless plaintext is allowed (IICP-CX-REQUIRED), sending nothing', async () => {
    const node = await startTestNode()
    cleanups.push(() => node.close())
    const client = new IicpClient({ allowPrivateEndpoints: true })
    cleanups.push(() => client.close())
    const err = await failure(client.submit(CHAT, { messages: [] }, { node: node.summary() }))
    expect(err.code).toBe('IICP-CX-REQUIRED')
    expect(node.requests).toHaveLength(0)
    const r = await client.submit(CHAT, { messages: [] }, { node: node.summary(), allowPlaintext: true })
    expect(r.encrypted).toBe(false)
    expect(node.requests[0]?.body.payload).toEqual({ messages: [] })
  })
})
