/** What every route handler shares: options, the node table, the store, the key and the probes. */
import type { Logger, SigningKeyPair } from '@iicp/protocol'
import type { RateLimiter } from './http/rate-limit.js'
import type { EndpointProber } from './liveness.js'
import type { LiveNode, NodeTable } from './node-table.js'
import type { ResolvedDirectoryOptions } from './options.js'
import type { DirectoryStore } from './store/types.js'

/** Directory state handed to handlers. */
export interface DirectoryContext {
  readonly opts: ResolvedDirectoryOptions
  readonly table: NodeTable
  readonly store: DirectoryStore
  readonly key: SigningKeyPair
  readonly prober: EndpointProber
  readonly limits: { readonly register: RateLimiter; readonly probe: RateLimiter; readonly directoryKey: RateLimiter }
  readonly log: Logger
  readonly startedAt: number
  /** Persist a node after an in-place change. */
  save(node: LiveNode): void
}
