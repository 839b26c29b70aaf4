/**
 * `--backend echo|openai` → a node Backend (official-sdks §3.7). `openai` needs `--base-url` and `--model`;
 * missing ones are usage errors raised before anything listens.
 */
import { echo, openaiCompatible } from '@iicp/node'
import type { Backend } from '@iicp/node'
import { UsageError } from './exit.js'

/** Backend kinds the CLI can start. */
export type BackendKind = 'echo' | 'openai'

/** What a backend is built from. */
export interface BackendFlags {
  readonly baseUrl?: string | undefined
  readonly model?: string | undefined
  readonly apiKey?: string | undefined
}

/** Build one backend of `kind`; `usage` is shown when a required flag is missing. */
export function buildBackend(kind: BackendKind, flags: BackendFlags, usage: string): Backend {
  if (kind === 'echo') return echo(flags.model !== undefined ? { models: [flags.model] } : {})
  if (flags.baseUrl === undefined) throw new UsageError('--backend openai needs --base-url (e.g. http://127.0.0.1:11434 for Ollama)', usage)
  if (flags.model === undefined) throw new UsageError('--backend openai needs --model', usage)
  return openaiCompatible({
    baseUrl: flags.baseUrl,
    model: flags.model,
    ...(flags.apiKey !== undefined ? { apiKey: flags.apiKey } : {}),
  })
}
