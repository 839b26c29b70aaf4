/** QUERY / NODELIST (wire.md §1.5; schemas/nodelist.json). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'
import { CapabilitySchema, CxPublicKeySchema, QosSchema } from './common.js'

export const DiscoverQuerySchema = z.object({
  intent: z.string().min(1),
  qos: QosSchema.optional(),
  region: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(50).optional(),
  min_reputation: z.coerce.number().min(0).max(1).optional(),
  model: z.string().optional(),
  modality: z.enum(['text', 'image', 'audio', 'video']).optional(),
  relay_capable: z.enum(['true', 'false', '1', '0']).optional(),
  view: z.enum(['dispatch', 'public']).optional(),
})
export type DiscoverQuery = z.infer<typeof DiscoverQuerySchema>

export const NodeSummarySchema = z.looseObject({
  node_id: z.string().optional(),
  endpoint: z.string().optional(),
  transport_endpoint: z.string().nullish(),
  transport_method: z.string().nullish(),
  relay_endpoint: z.string().nullish(),
  region: z.string().nullish(),
  score: z.number().min(0).max(1),
  available: z.boolean(),
  load: z.number().nullish(),
  active_jobs: z.number().nullish(),
  max_concurrent: z.number().nullish(),
  reputation_score: z.number().nullish(),
  relay_capable: z.boolean().optional(),
  cx_public_key: CxPublicKeySchema.nullish(),
  models: z.array(z.string()).optional(),
  capabilities: z.array(CapabilitySchema).optional(),
  exposure_mode: z.string().nullish(),
  reachability_tier: z.string().nullish(),
})
export type NodeSummary = z.infer<typeof NodeSummarySchema>

export const NodeListSchema = z.looseObject({
  nodes: z.array(NodeSummarySchema),
  count: z.number().int().min(0),
  relay_available: z.boolean().optional(),
  query_ms: z.number().optional(),
})
export type NodeList = z.infer<typeof NodeListSchema>
