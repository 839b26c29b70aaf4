/**
 * What this proves: the node decrypts IICP-CX requests captured from the reference Python client
 * (fixtures/interop/cx-python-sdk-0.7.107.json), hands the handler the exact plaintext payload, and
 * encrypts its response so that the fixture's own method (the consumer's response context derived from
 * the same request) decrypts it. It advertises the persisted key at registration, and a tampered body
 * is a JSON 400 IICP-CX-02.
 */
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { decryptRequest, decryptResponse, importCxPrivateKey } from '@iicp/protocol'
import type { IicpConf, IicpConfResp } from '@iicp/protocol'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { call } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

interface CxCase {
  request_headers: Record<string, string>
  request_body: { task_id: string; intent: string; iicp_conf: IicpConf } & Record<string, unknown>
  expected_payload: unknown
  response_body: { iicp_conf_resp: IicpConfResp }
  expected_response: { result: { choices: Array<{ message: unknown }> } } & Record<string, unknown>
}
interface CxFixture {
  node_key: { private_key: string; public_key: { key: string; key_id: string } }
  cases: CxCase[]
}

const fixture = JSON.parse(await readFile(new URL('../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as CxFixture

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function cxNode(opts: Partial<NodeOptions>, seen: unknown[]): Promise<IicpNode> {
  const backend = echo({ models: ['echo-1'] })
  const node = new IicpNode({
    directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cxPrivateKey: fixture.node_key.private_key,
    capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'] }],
    handler: (task, ctx) => {
      seen.push(task.payload)
      return backend.handle(task, ctx)
    },
    ...opts,
  } as NodeOptions)
  cleanup.push(() => node.close())
  await node.serve()
  return node
}

describe('IICP-CX with the Python client fixture', () => {
  for (const [i, c] of fixture.cases.entries()) {
    it(`decrypts captured request ${i + 1} and answers with a response the fixture's method decrypts`, async () => {
      const seen: unknown[] = []
      const node = await cxNode({}, seen)
      const res = await call(`${node.url}/v1/task`, { body: c.request_body, headers: c.request_headers })
      expect(res.status).toBe(200)
      const wire = res.json as { task_id: string; status: string; iicp_conf_resp: IicpConfResp }
      expect(wire.status).toBe('encrypted')
      expect(wire.task_id).toBe(c.request_body.task_id)
      expect(Object.keys(wire).sort()).toEqual(['iicp_conf_resp', 'status', 'task_id'])
      expect(seen).toEqual([c.expected_payload])

      // The consumer's side: the response context comes from the same captured request.
      const keyPair = await importCxPrivateKey(fixture.node_key.private_key)
      const { responseContext } = await decryptRequest({ iicpConf: c.request_body.iicp_conf, taskId: c.request_body.task_id, intent: c.request_body.intent, keyPair })
      // Sanity: the fixture's own captured response opens with this very method.
      expect(await decryptResponse(c.response_body.iicp_conf_resp, responseContext)).toEqual(c.expected_response)
      const opened = (await decryptResponse(wire.iicp_conf_resp, responseContext)) as Record<string, unknown>
      expect(opened).toMatchObject({ task_id: c.request_body.task_id, status: 'success', error: null, model_used: 'echo-1' })
      expect((opened.result as { choices: Array<{ message: unknown }> }).choices[0]?.message).toEqual(c.expected_response.result.choices[0]?.message)
    })
  }

  it('answers a tampered encrypted body with JSON 400 IICP-CX-02 and keeps serving', async () => {
    const seen: unknown[] = []
    const node = await cxNode({}, seen)
    const c = fixture.cases[0] as CxCase
    const body = structuredClone(c.request_body)
    const eb = body.iicp_conf.encrypted_body
    body.iicp_conf.encrypted_body = (eb[0] === 'A' ? 'B' : 'A') + eb.slice(1)
    const res = await call(`${node.url}/v1/task`, { body })
    expect(res.status).toBe(400)
    expect((res.json as { error: { code: string } }).error.code).toBe('IICP-CX-02')
    expect(seen).toEqual([])
    expect((await call(`${node.url}/v1/task`, { body: c.request_body })).status).toBe(200)
  })

  it('advertises its X25519 key at registration', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const node = await cxNode({ directoryUrl: d.apiUrl, timers: new ManualTimers() }, [])
    const res = await call(`${d.apiUrl}/v1/discover?intent=${encodeURIComponent('urn:iicp:intent:llm:chat:v1')}`)
    const nodes = (res.json as { nodes: Array<{ node_id: string; cx_public_key: { key: string; key_id: string; features?: string[] } }> }).nodes
    expect(nodes.find((n) => n.node_id === node.nodeId)?.cx_public_key).toMatchObject({ key: fixture.node_key.public_key.key, key_id: fixture.node_key.public_key.key_id, features: ['response_encryption_v1'] })
  })
})
