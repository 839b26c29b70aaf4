/**
 * The one path every proxy dialect (OpenAI, Ollama, Anthropic) takes into the mesh (wire.md §6.5 compat proxy):
 * model resolution against the directory's catalogue, then either one buffered `chat()` or a stream of OpenAI
 * `chat.completion.chunk`s from the client's `chatStream()`: chunk by chunk from a node streaming over its native
 * transport, one chunk with the whole answer from any other. Every dialect renders that one AsyncIterable shape.
 */
import type { ChatCompletion, ChatMessage, ChatStreamOptions } from '@iicp/client'
import { IicpError, formatTraceparent, isIicpError, newTraceContext } from '@iicp/protocol'
import type { ModelSnapshot } from './model-catalogue.js'
import { ProxyError } from './openai-errors.js'
import type { ProxyContext } from './routes.js'

/** A chat request after a dialect has translated it (messages in OpenAI's shape). */
export interface MeshChatRequest {
  readonly messages: readonly ChatMessage[]
  /** The model the caller named, as it named it. */
  readonly model: string
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Cancels the mesh call (the caller hung up). */
  readonly signal?: AbortSignal | undefined
  /** Other spellings to try when `model` itself is not served (Ollama's `name:latest`). */
  readonly modelAliases?: readonly string[] | undefined
}

/** One OpenAI `chat.completion.chunk` (the streaming unit all dialects render from). */
export interface ChatCompletionChunk {
  readonly id: string
  readonly object: 'chat.completion.chunk'
  readonly created: number
  readonly model: string
  readonly choices: readonly ChunkChoice[]
  readonly usage?: ChunkUsage | undefined
  /** Where it ran, on the chunk that knows (the client's last one); OpenAI callers see it as `chat()` callers do. */
  readonly iicp?: ChunkRoute | undefined
}

/** The routing facts a chunk may carry. */
export interface ChunkRoute {
  readonly node_id: string
  readonly attempts: number
  readonly [key: string]: unknown
}

/** One choice of a chunk. */
export interface ChunkChoice {
  readonly index: number
  readonly delta: { readonly role?: string; readonly content?: string | null }
  readonly finish_reason: string | null
}

/** Token counts, when the node reported them. */
export interface ChunkUsage {
  readonly prompt_tokens?: number
  readonly completion_tokens?: number
  readonly total_tokens?: number
}

/** Where a routed chat ran: what the `x-iicp-*` response headers say. */
export interface RouteFacts {
  /** Unknown until a chunk names it (a node streaming natively is named on its last chunk). */
  readonly nodeId: string | undefined
  readonly attempts: number | undefined
  readonly traceId: string
}

/** A routed chat whose answer arrives as chunks; the route is fixed once this exists (the first chunk is in). */
export interface MeshChatStream extends RouteFacts {
  readonly chunks: AsyncIterable<ChatCompletionChunk>
  /** The facts as of now: once the stream has passed the chunk naming the node, that node. */
  finalRoute(): RouteFacts
}

/** The response headers that name the route (kept identical across dialects; unknown facts are left out). */
export function routeHeaders(facts: RouteFacts): Record<string, string> {
  return {
    ...(facts.nodeId !== undefined ? { 'x-iicp-node-id': facts.nodeId } : {}),
    'x-iicp-trace-id': facts.traceId,
    ...(facts.attempts !== undefined ? { 'x-iicp-attempts': String(facts.attempts) } : {}),
  }
}

/** The catalogue, with "directory down" said plainly instead of as a bare connection error. */
export async function snapshot(ctx: ProxyContext): Promise<ModelSnapshot> {
  try {
    return await ctx.catalogue.get()
  } catch (err) {
    if (isIicpError(err) && (err.code === 'connection_failed' || err.code === 'timeout')) {
      throw new ProxyError(502, `Cannot reach the IICP directory at ${ctx.directoryUrl}`, 'directory_unreachable')
    }
    // The directory's own 404 must not reach clients as "model not found".
    if (isIicpError(err) && (err.code === 'not_found' || err.code === 'method_not_allowed' || err.code === 'invalid_response')) {
      throw new ProxyError(502, `${ctx.directoryUrl} did not answer like an IICP directory`, 'directory_invalid')
    }
    throw err
  }
}

/**
 * The model to ask the mesh for: `undefined` for an any-model alias (`auto`), else the served spelling. An empty
 * mesh is a 503 and an unserved model a 404, both before any task leaves.
 */
export async function resolveModel(ctx: ProxyContext, model: string, aliases: readonly string[] = []): Promise<string | undefined> {
  const snap = await snapshot(ctx)
  if (snap.nodes === 0) {
    throw new ProxyError(503, `No IICP node serves chat at ${ctx.directoryUrl}; start one with \`iicp node serve\` or \`iicp mesh\``, 'no_available_node')
  }
  for (const name of [model, ...aliases]) if (snap.models.has(name)) return name
  if (ctx.anyModel.has(model)) return undefined
  throw new ProxyError(404, `The model '${model}' does not exist or no IICP node serves it`, 'model_not_found', 'model')
}

async function chatOptions(ctx: ProxyContext, req: MeshChatRequest): Promise<{ options: ChatStreamOptions; traceId: string }> {
  const model = await resolveModel(ctx, req.model, req.modelAliases)
  const trace = newTraceContext()
  const options: ChatStreamOptions = {
    ...(model !== undefined ? { model } : {}),
    ...(req.maxTokens !== undefined ? { maxTokens: Math.floor(req.maxTokens) } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(ctx.qos !== undefined ? { qos: ctx.qos } : {}),
    ...(req.signal !== undefined ? { signal: req.signal } : {}),
    traceparent: formatTraceparent(trace),
  }
  return { options, traceId: trace.traceId }
}

/** One buffered chat through the mesh (discover → select → submit). */
export async function meshChat(ctx: ProxyContext, req: MeshChatRequest): Promise<{ completion: ChatCompletion; facts: RouteFacts }> {
  const { options, traceId } = await chatOptions(ctx, req)
  const completion = await ctx.client.chat(req.messages, options)
  return { completion, facts: { nodeId: completion.iicp.node_id, attempts: completion.iicp.attempts, traceId } }
}

/**
 * A chat through the mesh as chunks. Failures before the first chunk throw (the caller still answers with a
 * status); failures after it come out of the iterable. The response headers go out with the first chunk, so the
 * chunks already waiting behind it are read too, in case one of them names the node (a buffered answer's last
 * chunk does); nothing that has not arrived yet is waited for.
 */
export async function meshChatStream(ctx: ProxyContext, req: MeshChatRequest): Promise<MeshChatStream> {
  const { options, traceId } = await chatOptions(ctx, req)
  const source: AsyncIterator<ChatCompletionChunk> = ctx.client.chatStream(req.messages, options)
  const head: ChatCompletionChunk[] = []
  let pending: Promise<IteratorResult<ChatCompletionChunk>> | undefined
  let ended = false
  try {
    const first = await source.next()
    if (first.done === true) throw new IicpError('invalid_response', 'The node ended the stream without a chunk')
    head.push(first.value)
    while (head.at(-1)?.iicp === undefined) {
      pending = source.next()
      if (!(await alreadySettled(pending))) break
      const next = await pending
      pending = undefined
      if (next.done === true) {
        ended = true
        break
      }
      head.push(next.value)
    }
  } catch (err) {
    // Nothing reaches the caller but the error: stop the call behind it.
    await source.return?.()
    throw err
  }
  let route = head.at(-1)?.iicp
  const facts = (): RouteFacts => ({ nodeId: route?.node_id, attempts: route?.attempts, traceId })
  const seen = (chunk: ChatCompletionChunk): void => {
    if (chunk.iicp !== undefined) route = chunk.iicp
  }
  return { ...facts(), chunks: replay(head, ended ? undefined : source, pending, seen), finalRoute: facts }
}

/** Whether a promise settles before the event loop's next turn, i.e. its value was already queued. */
function alreadySettled(p: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const immediate = setImmediate(() => resolve(false))
    const settle = (): void => {
      clearImmediate(immediate)
      resolve(true)
    }
    p.then(settle, settle)
  })
}

/** The buffered answer as a stream: role and whole content in one delta, then the finish (OpenAI's minimum). */
export async function* completionChunks(completion: ChatCompletion): AsyncGenerator<ChatCompletionChunk> {
  const base = { id: completion.id, object: 'chat.completion.chunk' as const, created: completion.created, model: completion.model }
  const last = completion.choices.length - 1
  for (const [i, choice] of completion.choices.entries()) {
    yield { ...base, choices: [{ index: choice.index, delta: { role: choice.message.role, content: choice.message.content }, finish_reason: null }] }
    yield {
      ...base,
      choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason ?? 'stop' }],
      ...(i === last && completion.usage !== undefined ? { usage: completion.usage } : {}),
      ...(i === last ? { iicp: completion.iicp } : {}),
    }
  }
}

async function* replay(
  head: readonly ChatCompletionChunk[], rest: AsyncIterator<ChatCompletionChunk> | undefined, pending: Promise<IteratorResult<ChatCompletionChunk>> | undefined,
  seen: (chunk: ChatCompletionChunk) => void,
): AsyncGenerator<ChatCompletionChunk> {
  let finished = rest === undefined
  try {
    yield* head
    if (rest === undefined) return
    for (;;) {
      const next = await (pending ?? rest.next())
      pending = undefined
      if (next.done === true) break
      seen(next.value)
      yield next.value
    }
    finished = true
  } finally {
    // The caller stopped early (hung up): let the source cancel the mesh call.
    if (!finished) await rest?.return?.()
  }
}
