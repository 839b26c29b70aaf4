/**
 * Streaming handlers (official-sdks.md §6.4): a task handler may return an async iterable of chunks instead of one
 * value. The pipeline drains it here under the task's deadline, hands every chunk to an optional sink (the native
 * session turns them into lifecycle RESPONSE frames), and assembles the chunks into the one inner result an HTTP
 * caller gets. The single-level result rule holds for chunks and for the assembled result alike.
 */
import { IicpError } from '@iicp/protocol'

/** Where the chunks of a streaming handler go as they are produced; the pipeline awaits the returned promise (backpressure). */
export interface TaskStreamSink {
  chunk(value: unknown): void | Promise<void>
}

/** Most chunks one streamed task may produce; a runaway generator fails with `backend_error` instead of exhausting memory. */
export const MAX_STREAM_CHUNKS = 100_000

/** Whether a handler's return value is a stream of chunks (an async iterable that is not a promise). */
export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The text a chunk carries, if it is a text chunk: a string, `{delta}` / `{content}` (the Python SDK's shapes), or
 * an OpenAI `chat.completion.chunk` (`choices[0].delta.content`). `undefined` for anything else.
 */
export function chunkText(chunk: unknown): string | undefined {
  if (typeof chunk === 'string') return chunk
  if (!isRecord(chunk)) return undefined
  if (typeof chunk.delta === 'string') return chunk.delta
  if (typeof chunk.content === 'string') return chunk.content
  const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
  if (isRecord(choice) && isRecord(choice.delta)) {
    const c = choice.delta.content
    if (typeof c === 'string') return c
    if (c === undefined || c === null) return ''
  }
  return undefined
}

/** What the assembler needs to know about the task. */
export interface StreamTaskFacts {
  readonly taskId: string
  readonly intent: string
  readonly model: string | undefined
  /** True once the task ended early (deadline or cancel): stop pulling chunks. */
  readonly ended: () => boolean
}

/**
 * The inner result of a finished stream: the generator's own return value when it gave one; else, for text chunks,
 * an OpenAI `chat.completion` on chat intents and `{content}` elsewhere; else `{chunks: [...]}`.
 */
export function assembleChunks(chunks: readonly unknown[], returned: unknown, facts: StreamTaskFacts): unknown {
  if (returned !== undefined) return returned
  const texts: string[] = []
  for (const c of chunks) {
    const t = chunkText(c)
    if (t === undefined) return { chunks: [...chunks] }
    texts.push(t)
  }
  const content = texts.join('')
  if (!facts.intent.includes(':llm:chat:')) return { content }
  return {
    id: `chatcmpl-${facts.taskId}`,
    object: 'chat.completion',
    ...(facts.model === undefined ? {} : { model: facts.model }),
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  }
}

/**
 * Drain a handler's stream: each chunk to the sink (awaited, so a slow socket slows the handler), then the
 * assembled inner result. Stops pulling, and closes the generator, once the task ended early.
 */
export async function collectStream(stream: AsyncIterable<unknown>, facts: StreamTaskFacts, sink: TaskStreamSink | undefined): Promise<unknown> {
  const it = stream[Symbol.asyncIterator]()
  const chunks: unknown[] = []
  let done = false
  try {
    for (;;) {
      const step = await it.next()
      if (facts.ended()) return undefined
      if (step.done === true) {
        done = true
        return assembleChunks(chunks, step.value, facts)
      }
      if (chunks.length >= MAX_STREAM_CHUNKS) throw new IicpError('backend_error', `Stream exceeded ${MAX_STREAM_CHUNKS} chunks`)
      chunks.push(step.value)
      if (sink !== undefined) await sink.chunk(step.value)
    }
  } finally {
    // A generator left mid-way (deadline, cancel, sink failure) gets its finally blocks run.
    if (!done) void Promise.resolve(it.return?.()).catch(() => undefined)
  }
}
