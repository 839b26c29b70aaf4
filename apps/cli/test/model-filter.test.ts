/**
 * `--model` on `discover` and `chat` means what the help says, "only nodes serving this model": the directory
 * only ranks by model, so both filter with the client's own test (lists the model, or lists none), and `chat`
 * stops with `model_not_found` before any task is sent when no discovered node serves it, instead of trying
 * each node and ending in IICP-E029. In-process through `main()` against a real directory and two echo nodes.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'

function bufferIo(): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      append(chunk.toString())
      cb()
    },
  })
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1' }, out: () => out, err: () => err }
}

const argv = (...args: string[]): string[] => ['node', 'iicp', ...args]

describe('--model filters candidates to the nodes serving it', { timeout: 60_000 }, () => {
  let dir: RunningDirectory
  let first: IicpNode
  let second: IicpNode
  // Tasks each node was handed, to show a refused chat sent nothing.
  const tasks = { first: 0, second: 0 }

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    const counted = (key: keyof typeof tasks, models: string[]) => {
      const backend = echo({ models })
      return { ...backend, handle: (...a: Parameters<typeof backend.handle>) => { tasks[key]++; return backend.handle(...a) } }
    }
    first = new IicpNode({ directoryUrl: dir.apiUrl, backend: counted('first', ['echo-1']), host: '127.0.0.1', port: 0, persistState: false })
    second = new IicpNode({ directoryUrl: dir.apiUrl, backend: counted('second', ['other-1']), host: '127.0.0.1', port: 0, persistState: false })
    await Promise.all([first.serve(), second.serve()])
    expect(first.isRegistered && second.isRegistered).toBe(true)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()])
    await dir?.close()
  })

  it('discover --model lists only the nodes that list the model; without it, every node', async () => {
    const all = bufferIo()
    expect(await main(argv('discover', 'llm:chat:v1', '--directory', dir.apiUrl, '--json'), all)).toBe(0)
    expect((JSON.parse(all.out()) as { count: number }).count).toBe(2)

    const io = bufferIo()
    expect(await main(argv('discover', 'llm:chat:v1', '--directory', dir.apiUrl, '--model', 'other-1', '--json'), io)).toBe(0)
    const doc = JSON.parse(io.out()) as { count: number; nodes: { node_id: string; models: string[] }[] }
    expect(doc.count).toBe(1)
    expect(doc.nodes).toEqual([expect.objectContaining({ node_id: second.nodeId, models: ['other-1'] })])

    const none = bufferIo()
    expect(await main(argv('discover', 'llm:chat:v1', '--directory', dir.apiUrl, '--model', 'nope'), none)).toBe(0)
    expect(none.out()).toContain('no nodes serve urn:iicp:intent:llm:chat:v1 with model nope')
  })

  it('chat --model with no node serving it fails with model_not_found, exit 1, before any task is sent', async () => {
    const before = { ...tasks }
    const io = bufferIo()
    expect(await main(argv('chat', 'hi', '--directory', dir.apiUrl, '--model', 'nope', '--json'), io)).toBe(1)
    const body = JSON.parse(io.out()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('model_not_found')
    expect(body.error.message).toContain('no node serves model nope')
    expect(tasks).toEqual(before)

    const human = bufferIo()
    expect(await main(argv('chat', 'hi', '--directory', dir.apiUrl, '--model', 'nope'), human)).toBe(1)
    expect(human.out()).toBe('')
    expect(human.err()).toContain('no node serves model nope for urn:iicp:intent:llm:chat:v1')
    expect(tasks).toEqual(before)
  })

  it('chat --model reaches the node serving it', async () => {
    const before = { ...tasks }
    const io = bufferIo()
    expect(await main(argv('chat', 'to other', '--directory', dir.apiUrl, '--model', 'other-1', '--json'), io)).toBe(0)
    const doc = JSON.parse(io.out()) as { reply: string; route: { node_id: string; attempts: number } }
    expect(doc.reply).toBe('echo: to other')
    expect(doc.route).toMatchObject({ node_id: second.nodeId, attempts: 1 })
    expect(tasks).toEqual({ first: before.first, second: before.second + 1 })
  })
})
