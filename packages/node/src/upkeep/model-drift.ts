/**
 * Model drift (official-sdks §3.3 "model probing"; issue: node upkeep): on each heartbeat the node asks
 * every backend that can probe which models it serves now; when the advertised set changed it serves the
 * new list at once and re-registers with it (carrying `current_node_token`). A probe that fails or comes
 * back empty changes nothing: a backend restarting must not wipe the node's advertisement.
 */
import type { Logger } from '@iicp/protocol'
import type { Backend } from '../backends/backend.js'
import type { CapabilityOption } from '../options.js'
import type { TaskHandler } from '../task-handler.js'

/** What changed in one check. */
export interface ModelChange {
  readonly added: readonly string[]
  readonly removed: readonly string[]
  /** Every model advertised after the change. */
  readonly models: readonly string[]
}

/** Where drift is applied: the task routes for one intent. */
export type ApplyModels = (intent: string, models: readonly string[], handlers: ReadonlyMap<string, TaskHandler>) => void

type Capability = Required<CapabilityOption>

function allModels(caps: readonly Capability[]): string[] {
  return [...new Set(caps.flatMap((c) => c.models))]
}

/** Tracks the advertised capabilities against what the backends report. */
export class ModelDrift {
  private current: readonly Capability[]
  /** What each probing backend contributed at the last check (at first: its configured models). */
  private readonly contributed = new Map<Backend, readonly string[]>()
  private readonly probing: readonly Backend[]

  constructor(capabilities: readonly Capability[], backends: readonly Backend[], private readonly apply: ApplyModels, private readonly log: Logger) {
    this.current = capabilities
    this.probing = backends.filter((b) => typeof b.probeModels === 'function')
    for (const b of this.probing) this.contributed.set(b, b.models)
  }

  /** Whether any backend can be probed (otherwise there is nothing to check). */
  get active(): boolean {
    return this.probing.length > 0
  }

  /** The capabilities to advertise now. */
  get capabilities(): readonly Capability[] {
    return this.current
  }

  /** Probe every backend; apply and return the change, or undefined when the advertised set is the same. */
  async check(signal: AbortSignal): Promise<ModelChange | undefined> {
    const live = new Map<Backend, readonly string[]>()
    await Promise.all(this.probing.map(async (b) => {
      try {
        const models = await (b.probeModels as NonNullable<Backend['probeModels']>)(signal)
        if (models.length > 0) live.set(b, [...new Set(models)])
      } catch (err) {
        // An unreachable backend keeps its last known list; the heartbeat must still go out.
        this.log.debug({ backend: b.name, code: (err as { code?: unknown }).code }, 'model probe failed')
      }
    }))
    if (live.size === 0) return undefined
    const next = this.current.map((cap) => {
      const from = this.probing.filter((b) => b.intents.includes(cap.intent))
      if (from.length === 0) return cap
      const old = new Set(from.flatMap((b) => this.contributed.get(b) ?? []))
      const kept = cap.models.filter((m) => !old.has(m))
      const models = [...new Set([...kept, ...from.flatMap((b) => live.get(b) ?? this.contributed.get(b) ?? [])])]
      return models.length === 0 ? cap : { ...cap, models }
    })
    const before = new Set(allModels(this.current))
    const after = new Set(allModels(next))
    // Servers list models in no fixed order (Ollama sorts by modification time): only the set counts.
    const changed = next.some((cap, i) => {
      const prev = new Set((this.current[i] as Capability).models)
      return cap.models.length !== prev.size || cap.models.some((m) => !prev.has(m))
    })
    for (const [b, models] of live) this.contributed.set(b, models)
    if (!changed) return undefined
    for (const cap of next) {
      const handlers = new Map<string, TaskHandler>()
      for (const b of this.probing) {
        if (!b.intents.includes(cap.intent)) continue
        for (const m of this.contributed.get(b) ?? []) if (!handlers.has(m)) handlers.set(m, b.handle)
      }
      this.apply(cap.intent, cap.models, handlers)
    }
    this.current = Object.freeze(next)
    const change = { added: [...after].filter((m) => !before.has(m)), removed: [...before].filter((m) => !after.has(m)), models: [...after] }
    this.log.info({ added: change.added, removed: change.removed }, 'backend models changed')
    return change
  }
}
