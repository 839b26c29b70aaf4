/** Ticketed dispatch and directory key (wire.md §1.6, §1.8). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'
import { CxPublicKeySchema, QosSchema } from './common.js'

export const DispatchTicketRequestSchema = z.looseObject({
  intent: z.string().min(1),
  node_id: z.string().optional(),
  node_id_prefix: z.string().optional(),
  exclude_node_id_prefixes: z.array(z.string()).max(10).optional(),
  qos: QosSchema.optional(),
  region: z.string().optional(),
  model: z.string().optional(),
  min_reputation: z.number().min(0).max(1).optional(),
  limit: z.number().int().min(1).max(50).optional(),
})
export type DispatchTicketRequest = z.infer<typeof DispatchTicketRequestSchema>

export const DispatchRouteSchema = z.looseObject({
  node_id: z.string(),
  endpoint: z.string(),
  transport_endpoint: z.string().nullish(),
  cx_public_key: CxPublicKeySchema.nullish(),
})
export const DispatchTicketResponseSchema = z.looseObject({
  ticket: z.string().min(1),
  ticket_id_prefix: z.string().optional(),
  expires_at: z.number(),
  intent: z.string(),
  node_id: z.string(),
  node_id_prefix: z.string().optional(),
  route: DispatchRouteSchema,
  algorithm: z.literal('ed25519'),
  data_class: z.literal('ticketed_route_dispatch'),
  route_fields_present: z.literal(true),
  prompt_payload_accepted: z.literal(false),
})
export type DispatchTicketResponse = z.infer<typeof DispatchTicketResponseSchema>

export const DirectoryKeyResponseSchema = z.looseObject({
  public_key: z.string().regex(/^[0-9a-f]{64}$/),
  algorithm: z.literal('ed25519'),
})
export type DirectoryKeyResponse = z.infer<typeof DirectoryKeyResponseSchema>
