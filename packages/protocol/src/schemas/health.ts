/** Node health, `GET /iicp/health` (wire.md §2.5; reference-implementations §4). */
import { z } from 'zod'
import { BackendStabilitySchema } from './common.js'

/** Health answer: meaning fixed, fields additive (wire.md §2.5; Python node, reference-implementations §4). */
export const NodeHealthSchema = z.looseObject({
  /** cts §4.2: `ok` or `degraded` (`draining` when shutting down). */
  status: z.enum(['ok', 'degraded', 'draining']),
  /** cts §4.2: the node's id once registered. */
  node_id: z.string().nullish(),
  /** reference-implementations §4 */
  region: z.string().nullish(),
  /** cts §4.2: 0–1. */
  load: z.number().min(0).max(1),
  /** cts §4.2 */
  active_jobs: z.number().int().min(0),
  /** reference-implementations §4 */
  max_concurrent: z.number().int().min(1),
  /** reference-implementations §4 */
  effective_max_concurrent: z.number().int().min(0).optional(),
  /** reference-implementations §4 */
  available: z.boolean(),
  /** cts §3.3f DIR-TRUST-01: registered models ⊆ these. */
  models: z.array(z.string()),
  /** reference-implementations §4 */
  model: z.string().nullish(),
  /** reference-implementations §4 */
  intent: z.string().nullish(),
  /** core §11.2: latest observed IP from the ACK. */
  observed_source_ip: z.string().nullish(),
  /** reference-implementations §4 */
  backend_stability: BackendStabilitySchema.optional(),
})
export type NodeHealth = z.infer<typeof NodeHealthSchema>
