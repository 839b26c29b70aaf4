/**
 * Which models the mesh serves for chat, from `discover` (wire.md §1.5): cached briefly (the directory's
 * discover answers are max-age=5) so a burst of requests costs one directory trip, with concurrent misses
 * sharing one lookup and failures never cached.
 */
import type { IicpClient } from '@iicp/client'

/** What the mesh offers right now. */
export interface ModelSnapshot {
  /** Model names across every chat node. */
  readonly models: ReadonlySet<string>
  /** How many chat nodes the directory returned. */
  readonly nodes: number
}

/** A short-lived cache of the chat models the directory lists. */
export class ModelCatalogue {
  readonly #client: IicpClient
  readonly #intent: string
  readonly #ttlMs: number
  readonly #clock: () => number
  #entry: { expiresAt: number; value: Promise<ModelSnapshot> } | undefined

  constructor(client: IicpClient, intent: string, ttlMs: number, clock: () => number = Date.now) {
    this.#client = client
    this.#intent = intent
    this.#ttlMs = ttlMs
    this.#clock = clock
  }

  /** The current snapshot, from cache when fresh. */
  get(): Promise<ModelSnapshot> {
    const now = this.#clock()
    if (this.#entry && this.#entry.expiresAt > now) return this.#entry.value
    const value = this.#load()
    const entry = { expiresAt: now + this.#ttlMs, value }
    this.#entry = entry
    value.catch(() => {
      if (this.#entry === entry) this.#entry = undefined
    })
    return value
  }

  async #load(): Promise<ModelSnapshot> {
    const list = await this.#client.discover(this.#intent, { limit: 50 })
    const models = new Set<string>()
    for (const node of list.nodes) {
      for (const cap of node.capabilities ?? []) if (cap.intent === this.#intent) for (const m of cap.models ?? []) models.add(m)
      if (!node.capabilities?.length) for (const m of node.models ?? []) models.add(m)
    }
    return { models, nodes: list.nodes.length }
  }
}
