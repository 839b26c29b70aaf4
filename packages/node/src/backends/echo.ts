/**
 * The echo backend, for demos, tests and benchmarks: answers a chat with `echo: <last user message>`
 * as an OpenAI chat.completion, and a completion with its prompt. Costs almost nothing per task.
 */
import { IicpError } from '@iicp/protocol'
import type { Backend } from './backend.js'
import type { InnerResult, TaskContext, TaskInput } from '../task-handler.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const COMPLETION = 'urn:iicp:intent:llm:completion:v1'

/** Echo backend options. */
export interface EchoOptions {
  /** Model names to advertise. @default ['echo-1'] */
  models?: string[]
}

function words(s: string): number {
  let n = 0
  let inWord = false
  for (let i = 0; i < s.length; i++) {
    const space = s.charCodeAt(i) <= 32
    if (!space && !inWord) n++
    inWord = !space
  }
  return n
}

function lastUserContent(payload: unknown): string {
  const messages = (payload as { messages?: unknown } | null)?.messages
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new IicpError('validation_error', 'Input validation failed', { fields: { 'payload.messages': ['messages must be a non-empty array'] } })
  }
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null
    if (m?.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')
  }
  const last = messages[messages.length - 1] as { content?: unknown } | null
  return typeof last?.content === 'string' ? last.content : ''
}

function handle(task: TaskInput, ctx: TaskContext): InnerResult {
  const model = ctx.model ?? 'echo-1'
  if (task.intent === COMPLETION) {
    const prompt = (task.payload as { prompt?: unknown } | null)?.prompt
    if (typeof prompt !== 'string') throw new IicpError('validation_error', 'Input validation failed', { fields: { 'payload.prompt': ['prompt must be a string'] } })
    const n = words(prompt)
    return {
      id: `cmpl-${task.taskId}`, object: 'text_completion', model,
      choices: [{ index: 0, text: prompt, finish_reason: 'stop' }],
      usage: { prompt_tokens: n, completion_tokens: n, total_tokens: 2 * n },
    }
  }
  const content = lastUserContent(task.payload)
  const prompt = words(content)
  const completion = prompt + 1
  return {
    id: `chatcmpl-${task.taskId}`, object: 'chat.completion', model,
    choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${content}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  }
}

/** An echo backend serving chat and completion for the given model names. */
export function echo(options: EchoOptions = {}): Backend {
  const models = options.models ?? ['echo-1']
  if (!Array.isArray(models) || models.length === 0 || !models.every((m) => typeof m === 'string' && m.length > 0)) {
    throw new IicpError('invalid_config', 'option models must be a non-empty array of model names')
  }
  return Object.freeze({ name: 'custom', models: Object.freeze([...models]), intents: Object.freeze([CHAT, COMPLETION]), handle })
}
