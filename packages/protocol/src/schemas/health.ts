/** Node health (wire.md §2.1; reference-implementations §4). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'

export const NodeHealthSchema = z.looseObject({
  status: z.enum(['ok', 'degraded', 'draining']),
  node_id: z.string().nullish(),
  region: z.string().optional(),
  load: z.number().min(0).max(1),
  active_jobs: z.number().int().min(0),
  max_concurrent: z.number().int().min(1),
  available: z.boolean(),
  models: z.array(z.string()),
  observed_source_ip: z.string().nullish(),
})
export type NodeHealth = z.infer<typeof NodeHealthSchema>
