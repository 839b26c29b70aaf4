/**
 * A node error dressed as success (reference-implementations.md §5.3): the Python node builds its answer as
 * `{"task_id", "status":"completed", "generated_by_ai":true, **handler_return}`, and a real backend's failure returns
 * `{"error_code","error_message"}`, so the failure arrives as HTTP 200 `status:"completed"` with no result. The client
 * reads such an answer (or a success whose `error.code` is set and whose result is missing) as that node error, with
 * the code's catalogue status and retry rules: `backend_error` fails over, `validation_error` is final, and chat()
 * reports the node's code instead of "Chat result has no choices". No HTTP capture of this shape exists under
 * /work/shared/fixtures/interop, so the envelopes below follow §5.3's description field for field. Real fake
 * directory and test nodes on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode, TestNodeOptions } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hello mesh' }] }

/** What the Python node sends when its backend returns an error (§5.3): status completed, no result. */
function pythonBackendError(code: string, message: string): Record<string, unknown> {
  return { status: 'completed', generated_by_ai: true, error_code: code, error_message: message }
}

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** Nodes in this order behind a directory that lists them so; the client keeps directory order. */
async function setup(nodes: TestNodeOptions[], extra: { maxAttempts?: number } = {}): Promise<{ nodes: TestNode[]; client: IicpClient }> {
  const started: TestNode[] = []
  for (const o of nodes) {
    const n = await startTestNode(o)
    closers.push(() => n.close())
    started.push(n)
  }
  const dir = await startFakeDirectory(() => ({ status: 200, body: { nodes: started.map((n) => n.summary()), count: started.length } }))
  closers.push(() => dir.close())
  const client = new IicpClient({
    directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', selection: 'deterministic',
    random: () => 0.5, sleep: async () => {}, ...extra,
  })
  closers.push(() => client.close())
  return { nodes: started, client }
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a rejection')
}

function attemptsOf(err: IicpError): { nodeId: string; code: string; status: number | undefined; message: string }[] {
  return (err.extra?.attempts ?? []) as { nodeId: string; code: string; status: number | undefined; message: string }[]
}

describe('a success answer that carries an error code and no result', () => {
  it('is the node\'s backend_error (502): submit() fails over to the next node', async () => {
    const { nodes: [a, b], client } = await setup([
      { behaviours: [{ kind: 'envelope', fields: pythonBackendError('backend_error', 'ollama: connection refused') }] },
      {},
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.nodeId).toBe(b?.nodeId)
    expect(r.attempts).toBe(2)
    expect(r.errors).toEqual([{ nodeId: a?.nodeId, code: 'backend_error', status: 502, message: 'ollama: connection refused' }])
    expect((r.result as { choices: unknown[] }).choices).toHaveLength(1)
  })

  it('is final when the code is (validation_error 422): one attempt, the next node untouched', async () => {
    const { nodes: [a, b], client } = await setup([
      { behaviours: [{ kind: 'envelope', fields: pythonBackendError('validation_error', 'messages must not be empty') }] },
      {},
    ])
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('validation_error')
    expect(err.status).toBe(422)
    expect(err.message).toBe('messages must not be empty')
    expect(attemptsOf(err).map((x) => [x.nodeId, x.code])).toEqual([[a?.nodeId, 'validation_error']])
    expect(b?.requests).toHaveLength(0)
  })

  it('reaches chat() as the node\'s code, not invalid_response "Chat result has no choices"', async () => {
    const { nodes: [a], client } = await setup([
      { fallback: { kind: 'envelope', fields: pythonBackendError('backend_error', 'model crashed') } },
    ], { maxAttempts: 1 })
    const err = await failure(client.chat([{ role: 'user', content: 'hi' }]))
    expect(err.code).toBe('no_available_node')
    expect(attemptsOf(err)).toEqual([{ nodeId: a?.nodeId, code: 'backend_error', status: 502, message: 'model crashed' }])
  })

  it('is read the same inside an IICP-CX encrypted response', async () => {
    const { nodes: [a, b], client } = await setup([
      { cx: true, behaviours: [{ kind: 'envelope', fields: pythonBackendError('backend_error', 'backend down') }] },
      { cx: true },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.encrypted).toBe(true)
    expect(r.nodeId).toBe(b?.nodeId)
    expect(r.errors.map((e) => [e.nodeId, e.code, e.status])).toEqual([[a?.nodeId, 'backend_error', 502]])
  })

  it('takes a nested error.code too, and gives a code the catalogue lacks backend_error\'s 502 rules', async () => {
    const { nodes: [a, b], client } = await setup([
      { behaviours: [{ kind: 'envelope', fields: { status: 'success', result: null, error: { code: 'task_timeout', message: 'backend took too long' } } }] },
      { behaviours: [{ kind: 'envelope', fields: pythonBackendError('py_backend_crashed', 'segfault') }] },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.attempts).toBe(3)
    expect(r.nodeId).toBe(a?.nodeId)
    expect(r.errors.map((e) => [e.nodeId, e.code, e.status])).toEqual([[a?.nodeId, 'task_timeout', 504], [b?.nodeId, 'py_backend_crashed', 502]])
  })

  it('stays a success when it has a result, whatever else it carries', async () => {
    const { client } = await setup([
      { behaviours: [{ kind: 'envelope', fields: { status: 'completed', result: { text: 'fine' }, error_code: 'backend_error', error: null } }] },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.result).toEqual({ text: 'fine' })
    expect(r.errors).toEqual([])
  })
})
