/**
 * `chatStream()` output (official-sdks.md §6.4, §10.5): OpenAI `chat.completion.chunk` objects built from a native
 * stream's partial events, or one chunk carrying the whole answer when the node did not stream (HTTP-only nodes,
 * nodes without streaming handlers). A small queue hands chunks from the transport to the caller's `for await`.
 */
import { IicpError } from '@iicp/protocol'

/** One OpenAI-style streaming chunk, plus where it ran on the last one. */
export interface ChatCompletionChunk {
  readonly id: string
  readonly object: 'chat.completion.chunk'
  readonly created: number
  readonly model: string
  readonly choices: readonly {
    readonly index: number
    readonly delta: { readonly role?: 'assistant'; readonly content?: string }
    readonly finish_reason: string | null
  }[]
  readonly usage?: { readonly prompt_tokens?: number; readonly completion_tokens?: number; readonly total_tokens?: number }
  /** On the final chunk only: serving node, task id, attempts, route and transport. */
  readonly iicp?: { readonly node_id: string; readonly task_id: string; readonly attempts: number; readonly route: 'direct' | 'relay'; readonly transport: 'http' | 'native' }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The text of a partial event's result: a string, `{delta}`, `{content}` or an OpenAI chunk; `undefined` otherwise. */
export function streamChunkText(chunk: unknown): string | undefined {
  if (typeof chunk === 'string') return chunk
  if (!isRecord(chunk)) return undefined
  if (typeof chunk.delta === 'string') return chunk.delta
  if (typeof chunk.content === 'string') return chunk.content
  const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
  if (isRecord(choice) && isRecord(choice.delta) && typeof choice.delta.content === 'string') return choice.delta.content
  return undefined
}

/** The whole answer's text and finish reason from a final result (a chat.completion, `{content}` or a string). */
export function finalText(result: unknown): { text: string | undefined; finishReason: string; model: string | undefined; usage: ChatCompletionChunk['usage'] } {
  if (typeof result === 'string') return { text: result, finishReason: 'stop', model: undefined, usage: undefined }
  if (!isRecord(result)) return { text: undefined, finishReason: 'stop', model: undefined, usage: undefined }
  const model = typeof result.model === 'string' ? result.model : undefined
  const usage = isRecord(result.usage) ? (result.usage as ChatCompletionChunk['usage']) : undefined
  const choice = Array.isArray(result.choices) ? result.choices[0] : undefined
  if (isRecord(choice)) {
    const message = isRecord(choice.message) ? choice.message : undefined
    const content = message?.content
    return { text: typeof content === 'string' ? content : undefined, finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop', model, usage }
  }
  return { text: typeof result.content === 'string' ? result.content : undefined, finishReason: 'stop', model, usage }
}

/** Builds the chunks of one streamed chat. */
export class ChunkBuilder {
  #first = true
  model: string

  constructor(readonly id: string, readonly created: number, model: string | undefined) {
    this.model = model ?? 'unknown'
  }

  /** A content delta (the first carries `role: assistant`). */
  delta(content: string): ChatCompletionChunk {
    const delta = this.#first ? { role: 'assistant' as const, content } : { content }
    this.#first = false
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, finish_reason: null }] }
  }

  /** The closing chunk: empty delta, finish reason, usage and routing facts. */
  end(finishReason: string, usage: ChatCompletionChunk['usage'], iicp: NonNullable<ChatCompletionChunk['iicp']>): ChatCompletionChunk {
    return {
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model,
      choices: [{ index: 0, delta: {}, finish_reason: finishReason }], ...(usage ? { usage } : {}), iicp,
    }
  }
}

/** An unbounded single-consumer queue that ends with a value or an IicpError. */
export class ChunkQueue<T> {
  readonly #items: T[] = []
  #wake: (() => void) | undefined
  #done = false
  #error: IicpError | undefined

  push(item: T): void {
    if (this.#done) return
    this.#items.push(item)
    this.#wake?.()
  }

  end(error?: IicpError): void {
    if (this.#done) return
    this.#done = true
    this.#error = error
    this.#wake?.()
  }

  async *drain(): AsyncGenerator<T, void, void> {
    for (;;) {
      const item = this.#items.shift()
      if (item !== undefined) {
        yield item
        continue
      }
      if (this.#done) {
        if (this.#error) throw this.#error
        return
      }
      await new Promise<void>((resolve) => { this.#wake = resolve })
      this.#wake = undefined
    }
  }
}

/** The error for a stream that failed after chunks reached the caller: retrying elsewhere would repeat output. */
export function interrupted(err: IicpError): IicpError {
  return new IicpError(err.code, `Stream failed after chunks were delivered: ${err.message}`, { ...(err.status === undefined ? {} : { status: err.status }), retryable: false, cause: err })
}
