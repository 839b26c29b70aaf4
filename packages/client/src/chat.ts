/**
 * The chat helper (spec SDK-02; cts PROXY-OAI-01/02; registry llm-chat-v1 schemas): messages in, an OpenAI Chat
 * Completions object out (`choices[0].message.content`). The caller's messages are never altered: the payload
 * references them read-only, and the optional runtime-identity system message goes on a new array.
 */
import { IicpError } from '@iicp/protocol'

/** The registered chat intent. */
export const CHAT_INTENT = 'urn:iicp:intent:llm:chat:v1'

/** One chat message (llm-chat-v1-input: role and content required, extra keys allowed). */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool'
  readonly content: unknown
  readonly [key: string]: unknown
}

/** An OpenAI Chat Completions object, plus where it ran. */
export interface ChatCompletion {
  readonly id: string
  readonly object: 'chat.completion'
  readonly created: number
  readonly model: string
  readonly choices: readonly {
    readonly index: number
    readonly message: { readonly role: string; readonly content: string | null; readonly [key: string]: unknown }
    readonly finish_reason: string | null
  }[]
  readonly usage?: { readonly prompt_tokens?: number; readonly completion_tokens?: number; readonly total_tokens?: number }
  /** IICP routing facts: serving node, task id, attempts, route kind. */
  readonly iicp: { readonly node_id: string; readonly task_id: string; readonly attempts: number; readonly route: 'direct' | 'relay' }
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

/** Validate messages before any network traffic (`validation_error` naming the bad index). */
export function assertMessages(messages: unknown): asserts messages is readonly ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new IicpError('validation_error', 'messages must be a non-empty array', { fields: { messages: ['a non-empty array'] } })
  }
  messages.forEach((m: unknown, i) => {
    const ok = typeof m === 'object' && m !== null && ROLES.has((m as { role?: unknown }).role as string) && 'content' in m
    if (!ok) throw new IicpError('validation_error', `messages.${i} needs a role (system|user|assistant|tool) and content`, { fields: { [`messages.${i}`]: ['role and content'] } })
  })
}

/** The system message prepended when `runtimeIdentity` is asked for (runtime-identity-context fixture's marker). */
export function runtimeIdentityMessage(intent: string, sdkVersion: string): ChatMessage {
  return {
    role: 'system',
    content: `[IICP-RUNTIME-CONTEXT/1]\nThis request reached you through IICP, the Intent-based Inter-agent Communication Protocol. `
      + `You are the selected model or service, not IICP.\nRuntime facts:\n- intent: ${intent}\n- client: @iicp/client ${sdkVersion}`,
  }
}

/** The llm:chat:v1 payload; `messages` is the caller's array unless a system message is prepended to a copy. */
export function buildChatPayload(messages: readonly ChatMessage[], opts: {
  model?: string | undefined; maxTokens?: number | undefined; temperature?: number | undefined; prepend?: ChatMessage | undefined
}): Record<string, unknown> {
  const payload: Record<string, unknown> = { messages: opts.prepend ? [opts.prepend, ...messages] : messages }
  if (opts.model !== undefined) payload.model = opts.model
  if (opts.maxTokens !== undefined) payload.max_tokens = opts.maxTokens
  if (opts.temperature !== undefined) payload.temperature = opts.temperature
  return payload
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Shape a node's chat result as an OpenAI Chat Completions object; anything without `choices[0].message` is `invalid_response`. */
export function toChatCompletion(result: unknown, facts: { taskId: string; nodeId: string; attempts: number; route: 'direct' | 'relay'; modelUsed: string | undefined; now: number }): ChatCompletion {
  if (!isRecord(result) || !Array.isArray(result.choices) || result.choices.length === 0) {
    throw new IicpError('invalid_response', 'Chat result has no choices')
  }
  const choices = result.choices.map((c: unknown, i: number) => {
    if (!isRecord(c) || !isRecord(c.message)) throw new IicpError('invalid_response', `Chat result choice ${i} has no message`)
    const content = c.message.content
    if (content !== null && typeof content !== 'string') throw new IicpError('invalid_response', `Chat result choice ${i} content is not text`)
    return {
      index: typeof c.index === 'number' ? c.index : i,
      message: { ...c.message, role: typeof c.message.role === 'string' ? c.message.role : 'assistant', content },
      finish_reason: typeof c.finish_reason === 'string' ? c.finish_reason : null,
    }
  })
  const usage = isRecord(result.usage) ? (result.usage as ChatCompletion['usage']) : undefined
  return {
    id: typeof result.id === 'string' ? result.id : `chatcmpl-${facts.taskId}`,
    object: 'chat.completion',
    created: typeof result.created === 'number' ? result.created : Math.floor(facts.now / 1000),
    model: typeof result.model === 'string' ? result.model : facts.modelUsed ?? 'unknown',
    choices,
    ...(usage ? { usage } : {}),
    iicp: { node_id: facts.nodeId, task_id: facts.taskId, attempts: facts.attempts, route: facts.route },
  }
}
