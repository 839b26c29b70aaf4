/**
 * The proxy's Ollama-compatible handlers (wire.md §6.5 compat proxy on 9483; the shapes the `ollama` npm client
 * reads): `POST /api/chat` buffered or streamed as NDJSON (Ollama's default is to stream), `GET /api/tags` from
 * the directory's catalogue, `GET /api/version`, and errors as Ollama's `{"error": "…"}`.
 */
import type { ChatMessage } from '@iicp/client'
import { meshChat, meshChatStream, routeHeaders, snapshot } from './mesh-chat.js'
import type { ChatCompletionChunk, MeshChatRequest } from './mesh-chat.js'
import { ProxyError, toProxyError } from './openai-errors.js'
import type { ProxyContext, ProxyReply } from './routes.js'

/** NDJSON, as Ollama streams. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson'

/** The version `GET /api/version` reports: an Ollama API level the `ollama` 0.6 client speaks. */
export const OLLAMA_API_VERSION = '0.6.4'

/** Ollama's error body. */
export function ollamaErrorBody(err: ProxyError): { readonly error: string } {
  return { error: err.message }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `GET /api/tags`: every chat model the mesh serves, in Ollama's model-list shape (sizes unknown, so 0). */
export async function ollamaTags(ctx: ProxyContext): Promise<ProxyReply> {
  const snap = await snapshot(ctx)
  const names = [...snap.models].sort()
  if (snap.nodes > 0) names.push(...[...ctx.anyModel].filter((m) => !snap.models.has(m)))
  const models = names.map((name) => ({
    name,
    model: name,
    modified_at: new Date(0).toISOString(),
    size: 0,
    digest: '',
    details: { parent_model: '', format: '', family: '', families: [], parameter_size: '', quantization_level: '' },
  }))
  return { status: 200, body: { models } }
}

/** `GET /api/version`. */
export function ollamaVersion(): ProxyReply {
  return { status: 200, body: { version: OLLAMA_API_VERSION } }
}

const IMAGE_SIGNATURES: readonly (readonly [string, string])[] = [
  ['iVBORw0KGgo', 'image/png'], ['/9j/', 'image/jpeg'], ['R0lGOD', 'image/gif'], ['UklGR', 'image/webp'],
]

function dataUrl(base64: string): string {
  const mime = IMAGE_SIGNATURES.find(([prefix]) => base64.startsWith(prefix))?.[1] ?? 'application/octet-stream'
  return `data:${mime};base64,${base64}`
}

/** Ollama's message (`images` as bare base64) to OpenAI's (image parts with data URLs). */
function toChatMessage(m: unknown, i: number): ChatMessage {
  if (!isRecord(m) || typeof m.role !== 'string' || !['system', 'user', 'assistant', 'tool'].includes(m.role)) {
    throw new ProxyError(400, `messages[${i}] needs a role of system, user, assistant or tool`, 'invalid_value', 'messages')
  }
  const content = m.content ?? ''
  if (typeof content !== 'string') throw new ProxyError(400, `messages[${i}].content must be a string`, 'invalid_value', 'messages')
  const role = m.role as ChatMessage['role']
  if (m.images === undefined || m.images === null) return { role, content }
  if (!Array.isArray(m.images) || !m.images.every((img): img is string => typeof img === 'string')) {
    throw new ProxyError(400, `messages[${i}].images must be base64 strings`, 'invalid_value', 'messages')
  }
  return {
    role,
    content: [
      ...(content.length > 0 ? [{ type: 'text', text: content }] : []),
      ...m.images.map((img) => ({ type: 'image_url', image_url: { url: dataUrl(img) } })),
    ],
  }
}

function option(options: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = options[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ProxyError(400, `options.${key} must be a number from ${min} to ${max}`, 'invalid_value', `options.${key}`)
  }
  return v
}

function parseChat(body: unknown, signal: AbortSignal | undefined): { req: MeshChatRequest; stream: boolean } {
  if (!isRecord(body)) throw new ProxyError(400, 'The request body must be a JSON object', 'invalid_request')
  const model = body.model
  if (typeof model !== 'string' || model.length === 0) throw new ProxyError(400, 'model is required', 'missing_required_parameter', 'model')
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new ProxyError(400, 'messages must be a non-empty array', 'invalid_value', 'messages')
  }
  // Tool calls and structured output cannot be honoured by every node; refusing beats silently ignoring them.
  if (Array.isArray(body.tools) && body.tools.length > 0) throw new ProxyError(400, 'tools are not supported through the IICP proxy', 'unsupported_parameter', 'tools')
  if (body.format !== undefined && body.format !== null && body.format !== '') {
    throw new ProxyError(400, 'format is not supported through the IICP proxy', 'unsupported_parameter', 'format')
  }
  const options = body.options === undefined || body.options === null ? {} : body.options
  if (!isRecord(options)) throw new ProxyError(400, 'options must be an object', 'invalid_value', 'options')
  const maxTokens = option(options, 'num_predict', -2, 10_000_000)
  // Ollama's -1 (until done) and -2 (fill the context) mean "no cap" here.
  const capped = maxTokens !== undefined && maxTokens >= 1 ? maxTokens : undefined
  return {
    req: {
      messages: body.messages.map(toChatMessage),
      model,
      // `llama3.2` and `llama3.2:latest` name one Ollama model; a node may advertise either.
      modelAliases: model.endsWith(':latest') ? [model.slice(0, -':latest'.length)] : [`${model}:latest`],
      maxTokens: capped,
      temperature: option(options, 'temperature', 0, 2),
      signal,
    },
    // Ollama streams unless told `stream: false`.
    stream: body.stream !== false,
  }
}

function doneReason(finish: string | null | undefined): string {
  return finish === 'length' ? 'length' : finish ?? 'stop'
}

/** `POST /api/chat`. */
export async function ollamaChat(ctx: ProxyContext, body: unknown, signal?: AbortSignal): Promise<ProxyReply> {
  const started = process.hrtime.bigint()
  const { req, stream } = parseChat(body, signal)
  if (stream) {
    const routed = await meshChatStream(ctx, req)
    return {
      status: 200, stream: ollamaLines(routed.chunks, ctx.clock, started), contentType: NDJSON_CONTENT_TYPE,
      headers: routeHeaders(routed), servedBy: () => routed.finalRoute().nodeId,
    }
  }
  const { completion, facts } = await meshChat(ctx, req)
  const choice = completion.choices[0]
  return {
    status: 200,
    headers: routeHeaders(facts),
    body: {
      model: completion.model,
      created_at: new Date(ctx.clock()).toISOString(),
      message: { role: 'assistant', content: choice?.message.content ?? '' },
      done: true,
      done_reason: doneReason(choice?.finish_reason),
      ...timings(started, completion.usage),
    },
  }
}

function timings(started: bigint, usage: ChatCompletionChunk['usage']): Record<string, number> {
  return {
    total_duration: Number(process.hrtime.bigint() - started),
    load_duration: 0,
    prompt_eval_count: usage?.prompt_tokens ?? 0,
    prompt_eval_duration: 0,
    eval_count: usage?.completion_tokens ?? 0,
    eval_duration: 0,
  }
}

/**
 * Ollama's stream: one `{message, done: false}` line per content delta, then a `done: true` line with the reason
 * and counts. A failure after the first line becomes an `{"error": …}` line, which the `ollama` client raises.
 */
export async function* ollamaLines(chunks: AsyncIterable<ChatCompletionChunk>, clock: () => number, started: bigint): AsyncGenerator<string> {
  let model = 'unknown'
  let finish: string | null = null
  let usage: ChatCompletionChunk['usage']
  try {
    for await (const chunk of chunks) {
      model = chunk.model
      usage = chunk.usage ?? usage
      const choice = chunk.choices.find((c) => c.index === 0)
      if (choice === undefined) continue
      finish = choice.finish_reason ?? finish
      const content = choice.delta.content
      if (typeof content === 'string' && content.length > 0) {
        yield `${JSON.stringify({ model, created_at: new Date(clock()).toISOString(), message: { role: 'assistant', content }, done: false })}\n`
      }
    }
  } catch (err) {
    yield `${JSON.stringify(ollamaErrorBody(toProxyError(err)))}\n`
    return
  }
  yield `${JSON.stringify({
    model, created_at: new Date(clock()).toISOString(), message: { role: 'assistant', content: '' },
    done: true, done_reason: doneReason(finish), ...timings(started, usage),
  })}\n`
}
