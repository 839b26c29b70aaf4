/**
 * A backend for OpenAI-compatible servers (Ollama, vLLM, LM Studio, llama.cpp; official-sdks §3.7):
 * chat → `/chat/completions`, completion → `/completions`, embedding → `/embeddings`. It returns the
 * upstream JSON as the inner result, so it can never double-wrap, and maps every upstream failure to a
 * 502 `backend_error` whose `reason` says what went wrong (never the upstream body).
 */
import type { Agent } from 'undici'
import { IicpError } from '@iicp/protocol'
import type { Backend } from './backend.js'
import type { InnerResult, TaskContext, TaskInput } from '../task-handler.js'

const PATHS: Readonly<Record<string, string>> = Object.freeze({
  'urn:iicp:intent:llm:chat:v1': '/chat/completions',
  'urn:iicp:intent:llm:completion:v1': '/completions',
  'urn:iicp:intent:llm:embedding:v1': '/embeddings',
})

/** Options of {@link openaiCompatible}. */
export interface OpenAiCompatibleOptions {
  /** Server base, e.g. `http://127.0.0.1:11434` (Ollama) or `http://127.0.0.1:8000/v1` (vLLM); `/v1` is added to a bare origin. */
  baseUrl: string
  /** Model to serve (or give `models`). */
  model?: string
  /** Several models behind this server; tasks pick one with `payload.model`. */
  models?: string[]
  /** Sent as `Authorization: Bearer …`; never logged. */
  apiKey?: string
  /** Intents to serve. @default ['urn:iicp:intent:llm:chat:v1'] */
  intents?: string[]
  /** Flavour advertised as `backend` at register. @default 'custom' */
  name?: 'ollama' | 'lmstudio' | 'vllm' | 'llamacpp' | 'custom'
  /** Per-call ceiling in ms (the task deadline usually ends a call first). @default 120000 */
  timeoutMs?: number
  /**
   * Advertise every model `GET /v1/models` lists (probed each heartbeat), not only `model`/`models`;
   * otherwise the configured models are advertised while the server lists them. @default false
   */
  followServerModels?: boolean
}

const PROBE_TIMEOUT_MS = 2000

function backendError(reason: string, message: string, extra: Record<string, unknown> = {}, cause?: unknown): IicpError {
  return new IicpError('backend_error', message, { extra: { reason, ...extra }, cause })
}

/** Build an OpenAI-compatible backend. Throws IicpError `invalid_config` on bad options. */
export function openaiCompatible(options: OpenAiCompatibleOptions): Backend {
  if (typeof options?.baseUrl !== 'string' || !URL.canParse(options.baseUrl) || !/^https?:$/.test(new URL(options.baseUrl).protocol)) {
    throw new IicpError('invalid_config', 'option baseUrl must be an http(s) URL')
  }
  const models = options.models ?? (options.model !== undefined ? [options.model] : [])
  if (models.length === 0 || !models.every((m) => typeof m === 'string' && m.length > 0)) {
    throw new IicpError('invalid_config', 'option model (or models) must name at least one model')
  }
  const intents = options.intents ?? ['urn:iicp:intent:llm:chat:v1']
  for (const i of intents) if (PATHS[i] === undefined) throw new IicpError('invalid_config', `option intents: ${i} is not served by an OpenAI-compatible server`)
  const timeoutMs = options.timeoutMs ?? 120_000
  const url = new URL(options.baseUrl)
  const base = url.pathname === '/' || url.pathname === '' ? `${url.origin}/v1` : options.baseUrl.replace(/\/+$/, '')
  // undici loads on the first task, so nodes that never use this backend do not carry it in memory.
  let agent: Promise<{ agent: Agent; request: typeof import('undici').request }> | undefined
  const client = (): NonNullable<typeof agent> =>
    (agent ??= import('undici').then((u) => ({ agent: new u.Agent({ keepAliveTimeout: 30_000, connect: { timeout: Math.min(timeoutMs, 10_000) } }), request: u.request })))
  const auth = options.apiKey === undefined ? undefined : `Bearer ${options.apiKey}`

  async function handle(task: TaskInput, ctx: TaskContext): Promise<InnerResult> {
    const path = PATHS[task.intent]
    if (path === undefined) throw new IicpError('unknown_intent', 'Intent not served by this backend')
    if (typeof task.payload !== 'object' || task.payload === null || Array.isArray(task.payload)) {
      throw new IicpError('validation_error', 'Input validation failed', { fields: { payload: ['payload must be an object'] } })
    }
    const body = { ...(task.payload as Record<string, unknown>), model: ctx.model ?? models[0], stream: false }
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
    if (auth !== undefined) headers.authorization = auth
    if (ctx.traceId !== undefined) headers['x-iicp-trace-id'] = ctx.traceId
    const http = await client()
    let res: Awaited<ReturnType<typeof http.request>>
    try {
      res = await http.request(base + path, {
        method: 'POST', headers, body: JSON.stringify(body), dispatcher: http.agent, signal: ctx.signal,
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      })
    } catch (err) {
      if (ctx.signal.aborted) throw err
      throw backendError('unreachable', 'Backend unreachable', {}, err)
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      if (ctx.signal.aborted) throw err
      throw backendError('connection_lost', 'Backend closed the connection', {}, err)
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw backendError('upstream_status', `Backend answered HTTP ${res.statusCode}`, { upstream_status: res.statusCode })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw backendError('invalid_response', 'Backend answered with invalid JSON')
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw backendError('invalid_response', 'Backend answered with a non-object')
    const shaped = json as Record<string, unknown>
    const expected = task.intent.endsWith(':embedding:v1') ? 'data' : 'choices'
    if (!Array.isArray(shaped[expected])) throw backendError('invalid_response', `Backend answer has no ${expected} array`)
    return shaped as InnerResult
  }

  const configured = new Set(models)
  const follow = options.followServerModels === true

  /** `GET {base}/models` (OpenAI list shape `{data:[{id}]}`); 2 s at most, so a heartbeat never waits long. */
  async function probeModels(signal: AbortSignal): Promise<readonly string[]> {
    const http = await client()
    const headers: Record<string, string> = { accept: 'application/json' }
    if (auth !== undefined) headers.authorization = auth
    const res = await http.request(`${base}/models`, {
      method: 'GET', headers, dispatcher: http.agent, signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
      headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS,
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw backendError('upstream_status', `Backend answered HTTP ${res.statusCode}`, { upstream_status: res.statusCode })
    const data = (JSON.parse(text) as { data?: unknown }).data
    if (!Array.isArray(data)) throw backendError('invalid_response', 'Backend model list has no data array')
    const ids = data.flatMap((m: unknown) => (typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'string' ? [(m as { id: string }).id] : []))
    return follow ? ids : ids.filter((id) => configured.has(id))
  }

  return Object.freeze({
    name: options.name ?? 'custom',
    models: Object.freeze([...models]),
    intents: Object.freeze([...intents]),
    handle,
    probeModels,
    close: async () => {
      if (agent !== undefined) await (await agent).agent.close()
    },
  })
}
