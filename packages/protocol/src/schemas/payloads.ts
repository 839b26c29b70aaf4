/**
 * Per-intent input payload schemas, mirroring registry/schemas/*-input.json of the spec's intent
 * registry v1.4.0 (wire.md §3.3–§3.4). `additionalProperties:false` in the registry becomes a
 * strict object here, `true` a loose one, so both sides accept and refuse the same payloads.
 */
import { z } from 'zod'
import { IicpError } from '../errors.js'
import { safeParseWire } from '../parse.js'
import { AnyRecordSchema } from './common.js'

const str = z.string()
const strList1 = z.array(str).min(1)
const strOrList1 = z.union([str, strList1])

/** `llm:chat:v1` input (registry/schemas/llm-chat-v1-input.json). */
export const LlmChatInputSchema = z.looseObject({
  /** registry: ≥ 1 message `{role, content}`. */
  messages: z.array(z.looseObject({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.unknown().refine((c) => c !== undefined, 'content is required'),
  })).min(1),
  /** registry: ≥ 1. */
  max_tokens: z.number().int().min(1).optional(),
  /** registry: 0–2. */
  temperature: z.number().min(0).max(2).optional(),
  /** registry */
  stop: z.array(str).optional(),
})
export type LlmChatInput = z.infer<typeof LlmChatInputSchema>

/** `llm:completion:v1` input (registry/schemas/llm-completion-v1-input.json). */
export const LlmCompletionInputSchema = z.looseObject({
  /** registry */
  prompt: str,
  /** registry: ≥ 1. */
  max_tokens: z.number().int().min(1).optional(),
  /** registry: 0–2. */
  temperature: z.number().min(0).max(2).optional(),
})
export type LlmCompletionInput = z.infer<typeof LlmCompletionInputSchema>

/** `llm:embedding:v1` input (registry/schemas/llm-embedding-v1-input.json). */
export const LlmEmbeddingInputSchema = z.looseObject({
  /** registry: a string or a non-empty string list. */
  input: strOrList1,
})
export type LlmEmbeddingInput = z.infer<typeof LlmEmbeddingInputSchema>

/** `audio:transcribe:v1` input (registry/schemas/audio-transcribe-v1-input.json). */
export const AudioTranscribeInputSchema = z.looseObject({
  /** registry: base64 audio. */
  audio: str.min(1),
  filename: str.optional(),
  model: str.optional(),
  /** registry: BCP-47-like tag. */
  language: str.regex(/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*$/).optional(),
  response_format: z.enum(['json', 'text']).optional(),
  prompt: str.optional(),
  /** registry: 0–1. */
  temperature: z.number().min(0).max(1).optional(),
})
export type AudioTranscribeInput = z.infer<typeof AudioTranscribeInputSchema>

/** `audio:speech:v1` input (registry/schemas/audio-speech-v1-input.json). */
export const AudioSpeechInputSchema = z.looseObject({
  /** registry */
  input: str,
  model: str.optional(),
  voice: str.optional(),
  response_format: z.enum(['wav', 'mp3', 'opus', 'flac', 'aac']).optional(),
  /** registry: 0.25–4. */
  speed: z.number().min(0.25).max(4).optional(),
})
export type AudioSpeechInput = z.infer<typeof AudioSpeechInputSchema>

/** `safety:moderate:v1` input (registry/schemas/safety-moderate-v1-input.json). */
export const SafetyModerateInputSchema = z.looseObject({
  /** registry: a string or a non-empty string list. */
  input: strOrList1,
  model: str.optional(),
})
export type SafetyModerateInput = z.infer<typeof SafetyModerateInputSchema>

const codeLint = z.strictObject({ code: str, language: str, rules: z.array(str).optional() })
const codeOptimize = z.strictObject({ code: str, language: str, target: z.enum(['performance', 'readability', 'size']).optional() })
const researchSummarize = z.strictObject({
  documents: strList1, format: z.enum(['bullet', 'paragraph', 'abstract']).optional(), max_length: z.number().int().min(1).optional(),
})
const educationTutor = z.strictObject({ topic: str, level: z.enum(['beginner', 'intermediate', 'advanced']).optional(), question: str })
const translate = z.strictObject({ text: str, source_language: str.optional(), target_language: str })
const classify = z.strictObject({ text: str, categories: strList1, multi_label: z.boolean().optional() })
const embeddingMultimodal = z.strictObject({
  inputs: z.array(z.strictObject({ type: z.enum(['text', 'image_url']), content: str })).min(1),
})
const mcpToolsCall = z.strictObject({ tool_name: str, arguments: AnyRecordSchema })
const llmSummarize = z.strictObject({
  text: str, max_length: z.number().int().min(1).optional(), format: z.enum(['bullets', 'paragraph', 'headline']).optional(), language: str.optional(),
})
const llmClassify = z.strictObject({ text: str, categories: strList1, multi_label: z.boolean().optional(), explain: z.boolean().optional() })
const llmRerank = z.strictObject({ query: str, candidates: strList1, top_k: z.number().int().min(1).optional(), return_scores: z.boolean().optional() })

/** Input schema per registered intent URN (registry/intents.json v1.4.0, every entry). */
export const INTENT_PAYLOAD_SCHEMAS: Readonly<Record<string, z.ZodType>> = Object.freeze({
  'urn:iicp:intent:llm:chat:v1': LlmChatInputSchema,
  'urn:iicp:intent:llm:completion:v1': LlmCompletionInputSchema,
  'urn:iicp:intent:llm:embedding:v1': LlmEmbeddingInputSchema,
  'urn:iicp:intent:code:lint:v1': codeLint,
  'urn:iicp:intent:code:optimize:v1': codeOptimize,
  'urn:iicp:intent:research:summarize:v1': researchSummarize,
  'urn:iicp:intent:education:tutor:v1': educationTutor,
  'urn:iicp:intent:translate:v1': translate,
  'urn:iicp:intent:classify:v1': classify,
  'urn:iicp:intent:embedding:multimodal:v1': embeddingMultimodal,
  'urn:iicp:intent:mcp:tools/call:v1': mcpToolsCall,
  'urn:iicp:intent:llm:summarize:v1': llmSummarize,
  'urn:iicp:intent:llm:classify:v1': llmClassify,
  'urn:iicp:intent:llm:rerank:v1': llmRerank,
  'urn:iicp:intent:audio:transcribe:v1': AudioTranscribeInputSchema,
  'urn:iicp:intent:audio:speech:v1': AudioSpeechInputSchema,
  'urn:iicp:intent:safety:moderate:v1': SafetyModerateInputSchema,
})

const AnyObject = AnyRecordSchema

/**
 * Validate a task payload against its intent's registry input schema (wire.md §3.4). Returns a
 * 422 `validation_error` whose `fields` are keyed `payload.<path>`, or undefined when valid.
 * Intents without a registry schema (vendor `x.` URNs) only need an object payload (task.json).
 * Messages name fields, never payload values.
 */
export function validateIntentPayload(intent: string, payload: unknown): IicpError | undefined {
  const schema = Object.hasOwn(INTENT_PAYLOAD_SCHEMAS, intent) ? INTENT_PAYLOAD_SCHEMAS[intent] : undefined
  const r = safeParseWire(schema ?? AnyObject, payload)
  if (r.ok) return undefined
  const fields: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(r.error.fields ?? {})) fields[k === '(root)' ? 'payload' : `payload.${k}`] = v
  return new IicpError('validation_error', 'Payload does not match the intent input schema', { fields })
}
