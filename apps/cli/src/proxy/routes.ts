/**
 * The proxy's OpenAI-compatible handlers (cts PROXY-OAI-01/02): they take a parsed request and return a
 * reply value; `server.ts` does the HTTP. Chat requests go through the client's discover → select → submit;
 * a model no node serves is a 404 `model_not_found` and an empty mesh a 503, both before any task is sent.
 */
import type { ChatMessage, IicpClient } from '@iicp/client'
import { formatTraceparent, isIicpError, newTraceContext } from '@iicp/protocol'
import type { Qos } from '@iicp/protocol'
import type { ModelCatalogue, ModelSnapshot } from './model-catalogue.js'
import { ProxyError } from './openai-errors.js'

/** A JSON reply, or a reply sent as server-sent events (`stream: true`). */
export type ProxyReply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly status: number; readonly events: readonly unknown[]; readonly headers?: Readonly<Record<string, string>> }

/** What the handlers share. */
export interface ProxyContext {
  readonly client: IicpClient
  readonly catalogue: ModelCatalogue
  /** Model names that mean "any node" (never forwarded as a model constraint). */
  readonly anyModel: ReadonlySet<string>
  readonly qos: Qos | undefined
  readonly directoryUrl: string
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'iicp' }
}

function emptyMesh(ctx: ProxyContext): ProxyError {
  return new ProxyError(503, `No IICP node serves chat at ${ctx.directoryUrl}; start one with \`iicp node serve\` or \`iicp mesh\``, 'no_available_node')
}

/** The catalogue, with "directory down" said plainly instead of as a bare connection error. */
async function snapshot(ctx: ProxyContext): Promise<ModelSnapshot> {
  try {
    return await ctx.catalogue.get()
  } catch (err) {
    if (isIicpError(err) && (err.code === 'connection_failed' || err.code === 'timeout')) {
      throw new ProxyError(502, `Cannot reach the IICP directory at ${ctx.directoryUrl}`, 'directory_unreachable')
    }
    // The directory's own 404 must not reach OpenAI clients as "model not found".
    if (isIicpError(err) && (err.code === 'not_found' || err.code === 'method_not_allowed' || err.code === 'invalid_response')) {
      throw new ProxyError(502, `${ctx.directoryUrl} did not answer like an IICP directory`, 'directory_invalid')
    }
    throw err
  }
}

/** `GET /v1/models`: the chat models the mesh's nodes advertise, plus the `auto` alias when any node is up. */
export async function listModels(ctx: ProxyContext): Promise<ProxyReply> {
  const snap = await snapshot(ctx)
  const ids = [...snap.models].sort()
  if (snap.nodes > 0) ids.push(...[...ctx.anyModel].filter((m) => !snap.models.has(m)))
  return { status: 200, body: { object: 'list', data: ids.map(modelObject) } }
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

/** `POST /v1/chat/completions`, buffered or as one-shot server-sent events. */
export async function chatCompletions(ctx: ProxyContext, body: unknown): Promise<ProxyReply> {
  if (!isRecord(body)) throw new ProxyError(400, 'The request body must be a JSON object', 'invalid_request', null)
  const model = body.model
  if (typeof model !== 'string' || model.length === 0) throw new ProxyError(400, "you must provide a model parameter", 'missing_required_parameter', 'model')
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ProxyError(400, "'messages' must be a non-empty array", 'invalid_value', 'messages')
  }
  const maxTokens = optionalNumber(body, 'max_completion_tokens', 1, 10_000_000) ?? optionalNumber(body, 'max_tokens', 1, 10_000_000)
  const temperature = optionalNumber(body, 'temperature', 0, 2)
  const stream = body.stream === true

  const snap = await snapshot(ctx)
  if (snap.nodes === 0) throw emptyMesh(ctx)
  const any = ctx.anyModel.has(model) && !snap.models.has(model)
  if (!any && !snap.models.has(model)) {
    throw new ProxyError(404, `The model '${model}' does not exist or no IICP node serves it`, 'model_not_found', 'model')
  }
  const trace = newTraceContext()
  const completion = await ctx.client.chat(messages as ChatMessage[], {
    ...(any ? {} : { model }),
    ...(maxTokens !== undefined ? { maxTokens: Math.floor(maxTokens) } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
    ...(ctx.qos !== undefined ? { qos: ctx.qos } : {}),
    traceparent: formatTraceparent(trace),
  })
  const headers = { 'x-iicp-node-id': completion.iicp.node_id, 'x-iicp-trace-id': trace.traceId, 'x-iicp-attempts': String(completion.iicp.attempts) }
  if (!stream) return { status: 200, body: completion, headers }
  // Nodes answer buffered over HTTP, so a stream is the whole reply in one delta, then the finish, then [DONE].
  const base = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model }
  const events: unknown[] = []
  for (const choice of completion.choices) {
    events.push({ ...base, choices: [{ index: choice.index, delta: { role: choice.message.role, content: choice.message.content }, finish_reason: null }] })
    events.push({ ...base, choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason ?? 'stop' }] })
  }
  return { status: 200, events, headers }
}
