/** The pluggable inference backend a node serves tasks with (official-sdks §3.7). */
import type { TaskHandler } from '../task-handler.js'

/**
 * A backend: the intents and models it serves and a handler that returns the inner result
 * (a chat.completion, an embedding list, …). The node wraps that result once (IICP-core §3.2).
 */
export interface Backend {
  /** Short flavour name advertised as `backend` at register (e.g. `ollama`, `custom`). */
  readonly name: string
  /** Models this backend serves; the first is the default when a task names none. */
  readonly models: readonly string[]
  /** Intent URNs this backend serves. */
  readonly intents: readonly string[]
  /** Runs one task; returns the inner result, never an envelope. */
  readonly handle: TaskHandler
  /**
   * The models the backend can serve right now (official-sdks §3.3 model probing). The node calls it on
   * each heartbeat and re-registers when the list changed; an empty list or a throw means "unknown".
   */
  probeModels?(signal: AbortSignal): Promise<readonly string[]>
  /** Releases sockets or pools the backend holds. */
  close?(): Promise<void>
}
