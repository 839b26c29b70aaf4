/**
 * The proxy's Anthropic-compatible handler (wire.md §6.5 compat proxy on 9483; the Messages API shapes the
 * `@anthropic-ai/sdk` client reads): `POST /v1/messages` buffered, or with `stream: true` as Anthropic's event
 * sequence (message_start, content_block_start, ping, content_block_delta…, content_block_stop, message_delta,
 * message_stop), and errors as `{"type":"error","error":{"type","message"}}`.
 */
import type { ChatMessage } from '@iicp/client'
import { meshChat, meshChatStream, routeHeaders } from './mesh-chat.js'
import type { ChatCompletionChunk, MeshChatRequest, RouteFacts } from './mesh-chat.js'
import { ProxyError, toProxyError } from './openai-errors.js'
import type { ProxyContext, ProxyReply } from './routes.js'
import { SSE_CONTENT_TYPE } from './routes.js'

/** Anthropic's error body; `details.error_code` carries the IICP code (the SDK exposes it as `errorCode`). */
export interface AnthropicErrorBody {
  readonly type: 'error'
  readonly error: { readonly type: string; readonly message: string; readonly details: { readonly error_code: string | null } }
}

/** Anthropic's error `type` for a status. */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 413) return 'request_too_large'
  if (status === 429) return 'rate_limit_error'
  if (status === 503) return 'overloaded_error'
  if (status >= 500) return 'api_error'
  return 'invalid_request_error'
}

/** Render a proxy failure as Anthropic's error body. */
export function anthropicErrorBody(err: ProxyError): AnthropicErrorBody {
  return { type: 'error', error: { type: anthropicErrorType(err.status), message: err.message, details: { error_code: err.code } } }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function bad(message: string, param: string): ProxyError {
  return new ProxyError(400, message, 'invalid_value', param)
}

/** Anthropic content (a string or blocks) as OpenAI content: text stays a string, images become image parts. */
function toContent(content: unknown, where: string): unknown {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw bad(`${where}: content must be a string or an array of content blocks`, where)
  const parts = content.map((block: unknown, j: number) => {
    if (!isRecord(block)) throw bad(`${where}.${j}: a content block must be an object`, where)
    if (block.type === 'text' && typeof block.text === 'string') return { type: 'text', text: block.text }
    if (block.type === 'image' && isRecord(block.source)) {
      const s = block.source
      if (s.type === 'base64' && typeof s.media_type === 'string' && typeof s.data === 'string') {
        return { type: 'image_url', image_url: { url: `data:${s.media_type};base64,${s.data}` } }
      }
      if (s.type === 'url' && typeof s.url === 'string') return { type: 'image_url', image_url: { url: s.url } }
    }
    throw new ProxyError(400, `${where}.${j}: content blocks of type '${String(block.type)}' are not supported through the IICP proxy`, 'unsupported_parameter', where)
  })
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => ('text' in p ? p.text : '')).join('\n')
  return parts
}

function parseMessages(body: Record<string, unknown>): ChatMessage[] {
  const out: ChatMessage[] = []
  const system = body.system
  if (system !== undefined && system !== null) {
    const text = toContent(system, 'system')
    if (typeof text !== 'string') throw bad('system: only text blocks are allowed', 'system')
    out.push({ role: 'system', content: text })
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad('messages: at least one message is required', 'messages')
  body.messages.forEach((m: unknown, i: number) => {
    if (!isRecord(m) || (m.role !== 'user' && m.role !== 'assistant')) throw bad(`messages.${i}.role: must be 'user' or 'assistant'`, 'messages')
    out.push({ role: m.role, content: toContent(m.content, `messages.${i}.content`) })
  })
  return out
}

function parseRequest(body: unknown, signal: AbortSignal | undefined): { req: MeshChatRequest; stream: boolean } {
  if (!isRecord(body)) throw new ProxyError(400, 'The request body must be a JSON object', 'invalid_request')
  if (typeof body.model !== 'string' || body.model.length === 0) throw new ProxyError(400, 'model: Field required', 'missing_required_parameter', 'model')
  const maxTokens = body.max_tokens
  if (maxTokens === undefined) throw new ProxyError(400, 'max_tokens: Field required', 'missing_required_parameter', 'max_tokens')
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) throw bad('max_tokens: must be an integer of at least 1', 'max_tokens')
  const temperature = body.temperature
  if (temperature !== undefined && (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 1))) {
    throw bad('temperature: must be a number from 0 to 1', 'temperature')
  }
  // Tools and stop sequences cannot be honoured by every node; refusing beats silently ignoring them.
  if (Array.isArray(body.tools) && body.tools.length > 0) throw new ProxyError(400, 'tools: not supported through the IICP proxy', 'unsupported_parameter', 'tools')
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) {
    throw new ProxyError(400, 'stop_sequences: not supported through the IICP proxy', 'unsupported_parameter', 'stop_sequences')
  }
  return {
    req: { messages: parseMessages(body), model: body.model, maxTokens, temperature, signal },
    stream: body.stream === true,
  }
}

/** OpenAI's finish reason as Anthropic's stop reason. */
export function stopReason(finish: string | null | undefined): string {
  if (finish === 'length') return 'max_tokens'
  if (finish === 'tool_calls' || finish === 'function_call') return 'tool_use'
  if (finish === 'content_filter') return 'refusal'
  return 'end_turn'
}

function messageId(id: string): string {
  return `msg_${id.replace(/^chatcmpl-/, '')}`
}

function anthropicHeaders(facts: RouteFacts): Record<string, string> {
  return { ...routeHeaders(facts), 'request-id': `req_${facts.traceId}` }
}

/** `POST /v1/messages`. */
export async function anthropicMessages(ctx: ProxyContext, body: unknown, signal?: AbortSignal): Promise<ProxyReply> {
  const { req, stream } = parseRequest(body, signal)
  if (stream) {
    const routed = await meshChatStream(ctx, req)
    return {
      status: 200, stream: anthropicEvents(routed.chunks), contentType: SSE_CONTENT_TYPE,
      headers: anthropicHeaders(routed), servedBy: () => routed.finalRoute().nodeId,
    }
  }
  const { completion, facts } = await meshChat(ctx, req)
  const choice = completion.choices[0]
  const text = choice?.message.content ?? ''
  return {
    status: 200,
    headers: anthropicHeaders(facts),
    body: {
      id: messageId(completion.iicp.task_id),
      type: 'message',
      role: 'assistant',
      model: completion.model,
      content: [{ type: 'text', text }],
      stop_reason: stopReason(choice?.finish_reason),
      stop_sequence: null,
      usage: { input_tokens: completion.usage?.prompt_tokens ?? 0, output_tokens: completion.usage?.completion_tokens ?? 0 },
    },
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * Anthropic's event sequence around one text block. A failure after the first event becomes an `error` event,
 * which the SDK raises as APIError.
 */
export async function* anthropicEvents(chunks: AsyncIterable<ChatCompletionChunk>): AsyncGenerator<string> {
  let started = false
  let finish: string | null = null
  let usage: ChatCompletionChunk['usage']
  try {
    for await (const chunk of chunks) {
      if (!started) {
        started = true
        yield event('message_start', {
          type: 'message_start',
          message: {
            id: messageId(chunk.id), type: 'message', role: 'assistant', model: chunk.model, content: [],
            stop_reason: null, stop_sequence: null, usage: { input_tokens: chunk.usage?.prompt_tokens ?? 0, output_tokens: 0 },
          },
        })
        yield event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
        yield event('ping', { type: 'ping' })
      }
      usage = chunk.usage ?? usage
      const choice = chunk.choices.find((c) => c.index === 0)
      if (choice === undefined) continue
      finish = choice.finish_reason ?? finish
      const text = choice.delta.content
      if (typeof text === 'string' && text.length > 0) {
        yield event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })
      }
    }
  } catch (err) {
    yield event('error', anthropicErrorBody(toProxyError(err)))
    return
  }
  if (!started) {
    yield event('error', anthropicErrorBody(new ProxyError(502, 'The node ended the stream without a chunk', 'invalid_response')))
    return
  }
  yield event('content_block_stop', { type: 'content_block_stop', index: 0 })
  yield event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stopReason(finish), stop_sequence: null },
    usage: { output_tokens: usage?.completion_tokens ?? 0, ...(usage?.prompt_tokens !== undefined ? { input_tokens: usage.prompt_tokens } : {}) },
  })
  yield event('message_stop', { type: 'message_stop' })
}
