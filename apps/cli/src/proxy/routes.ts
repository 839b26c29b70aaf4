/**
 * The proxy's OpenAI-compatible handlers (cts PROXY-OAI-01/02): they take a parsed request and return a
 * reply value; `server.ts` does the HTTP. Chat requests go through `mesh-chat.ts` (discover → select → submit);
 * a model no node serves is a 404 `model_not_found` and an empty mesh a 503, both before any task is sent.
 * The reply and context types here are shared by the Ollama and Anthropic handlers.
 */
import type { ChatMessage, IicpClient } from '@iicp/client'
import type { Qos } from '@iicp/protocol'
import { meshChat, meshChatStream, routeHeaders, snapshot } from './mesh-chat.js'
import type { ChatCompletionChunk, MeshChatRequest } from './mesh-chat.js'
import type { ModelCatalogue } from './model-catalogue.js'
import { ProxyError, toProxyError } from './openai-errors.js'

/** A JSON reply, or a streamed one (server-sent events, NDJSON) whose text pieces `server.ts` writes as they come. */
export type ProxyReply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Readonly<Record<string, string>> }
  | {
    readonly status: number; readonly stream: AsyncIterable<string>; readonly contentType: string; readonly headers?: Readonly<Record<string, string>>
    /** The serving node once the stream has ended (a natively streamed answer names it only on its last chunk). */
    readonly servedBy?: () => string | undefined
  }

/** What the handlers share. */
export interface ProxyContext {
  readonly client: IicpClient
  readonly catalogue: ModelCatalogue
  /** Model names that mean "any node" (never forwarded as a model constraint). */
  readonly anyModel: ReadonlySet<string>
  readonly qos: Qos | undefined
  /** Milliseconds since the epoch (timestamps in replies). */
  readonly clock: () => number
  readonly directoryUrl: string
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// OpenAI and Anthropic share the /v1/models path; each entry carries both ecosystems' fields so either SDK reads it.
function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'iicp', type: 'model', display_name: id, created_at: new Date(0).toISOString() }
}

/** `GET /v1/models`: the chat models the mesh's nodes advertise, plus the `auto` alias when any node is up. */
export async function listModels(ctx: ProxyContext): Promise<ProxyReply> {
  const snap = await snapshot(ctx)
  const ids = [...snap.models].sort()
  if (snap.nodes > 0) ids.push(...[...ctx.anyModel].filter((m) => !snap.models.has(m)))
  return {
    status: 200,
    body: { object: 'list', data: ids.map(modelObject), has_more: false, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null },
  }
}

/** `GET /v1/models/{id}`. */
export async function getModel(ctx: ProxyContext, id: string): Promise<ProxyReply> {
  const snap = await snapshot(ctx)
  if (snap.models.has(id) || (snap.nodes > 0 && ctx.anyModel.has(id))) return { status: 200, body: modelObject(id) }
  throw new ProxyError(404, `The model '${id}' does not exist`, 'model_not_found', 'model')
}

function optionalNumber(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ProxyError(400, `'${key}' must be a number from ${min} to ${max}`, 'invalid_value', key)
  }
  return v
}

/** `POST /v1/chat/completions`, buffered or (`stream: true`) as OpenAI chunk events. */
export async function chatCompletions(ctx: ProxyContext, body: unknown, signal?: AbortSignal): Promise<ProxyReply> {
  if (!isRecord(body)) throw new ProxyError(400, 'The request body must be a JSON object', 'invalid_request', null)
  const model = body.model
  if (typeof model !== 'string' || model.length === 0) throw new ProxyError(400, "you must provide a model parameter", 'missing_required_parameter', 'model')
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ProxyError(400, "'messages' must be a non-empty array", 'invalid_value', 'messages')
  }
  const req: MeshChatRequest = {
    messages: messages as ChatMessage[],
    model,
    maxTokens: optionalNumber(body, 'max_completion_tokens', 1, 10_000_000) ?? optionalNumber(body, 'max_tokens', 1, 10_000_000),
    temperature: optionalNumber(body, 'temperature', 0, 2),
    signal,
  }
  if (body.stream === true) {
    const routed = await meshChatStream(ctx, req)
    return { status: 200, stream: openAiEvents(routed.chunks), contentType: SSE_CONTENT_TYPE, headers: routeHeaders(routed), servedBy: () => routed.finalRoute().nodeId }
  }
  const { completion, facts } = await meshChat(ctx, req)
  return { status: 200, body: completion, headers: routeHeaders(facts) }
}

/** Server-sent events carry every streamed dialect but Ollama's. */
export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8'

/**
 * OpenAI's stream: one `data:` event per chunk, then `data: [DONE]`. A failure after the first chunk becomes a
 * `data: {"error":…}` event (what the `openai` package raises as APIError) and no `[DONE]`.
 */
export async function* openAiEvents(chunks: AsyncIterable<ChatCompletionChunk>): AsyncGenerator<string> {
  try {
    for await (const chunk of chunks) yield `data: ${JSON.stringify(chunk)}\n\n`
  } catch (err) {
    yield `data: ${JSON.stringify(toProxyError(err).body())}\n\n`
    return
  }
  yield 'data: [DONE]\n\n'
}
