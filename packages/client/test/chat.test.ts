/**
 * chat() (spec SDK-02; cts PROXY-OAI-02): the answer is an OpenAI Chat Completions object with
 * choices[0].message.content; the caller's messages are never altered (deep-frozen input works), the optional
 * runtime-identity message goes on a copy; bad messages fail before traffic; a non-chat result is invalid_response.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import type { ChatMessage } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'

let mesh: Mesh | undefined
let client: IicpClient | undefined
afterEach(async () => {
  await client?.close()
  await mesh?.close()
})

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
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

describe('chat()', () => {
  it('spec SDK-02: returns an OpenAI Chat Completions object with choices[0].message.content', async () => {
    mesh = await startMesh([{ cx: true }])
    client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true })
    const c = await client.chat([{ role: 'user', content: 'Hello mesh' }], { model: 'echo-1', maxTokens: 16, temperature: 0.2 })
    expect(c.object).toBe('chat.completion')
    expect(c.choices[0]?.message.content).toBe('echo: Hello mesh')
    expect(c.choices[0]?.message.role).toBe('assistant')
    expect(c.choices[0]?.finish_reason).toBe('stop')
    expect(c.usage?.total_tokens).toBe(5)
    expect(c.iicp.node_id).toBe(mesh.nodes[0]?.nodeId)
    expect(mesh.nodes[0]?.requests[0]?.payload).toEqual({ messages: [{ role: 'user', content: 'Hello mesh' }], model: 'echo-1', max_tokens: 16, temperature: 0.2 })
  })

  it('never alters the caller\'s messages, and adds the runtime-identity message only to a copy when asked', async () => {
    mesh = await startMesh([{}])
    client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true })
    const messages: ChatMessage[] = deepFreeze([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }])
    const before = JSON.stringify(messages)
    await client.chat(messages)
    await client.chat(messages, { runtimeIdentity: true })
    expect(JSON.stringify(messages)).toBe(before)
    const [plain, withIdentity] = mesh.nodes[0]?.requests.map((r) => (r.payload as { messages: ChatMessage[] }).messages) ?? []
    expect(plain).toEqual(messages)
    expect(withIdentity).toHaveLength(3)
    expect(String(withIdentity?.[0]?.content)).toContain('[IICP-RUNTIME-CONTEXT/1]')
    expect(withIdentity?.slice(1)).toEqual(messages)
  })

  it('rejects empty or malformed messages with validation_error before any traffic', async () => {
    mesh = await startMesh([{}])
    client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true })
    for (const bad of [[], [{ role: 'wizard', content: 'x' }], [{ role: 'user' }], 'hi']) {
      expect((await failure(client.chat(bad as never))).code).toBe('validation_error')
    }
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })

  it('answers invalid_response when the node\'s result is not a chat completion', async () => {
    mesh = await startMesh([{ behaviours: [{ kind: 'result', result: { text: 'not a chat completion' } }] }])
    client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true })
    const err = await failure(client.chat([{ role: 'user', content: 'x' }]))
    expect(err.code).toBe('invalid_response')
    expect(err.message).toBe('Chat result has no choices')
  })
})
