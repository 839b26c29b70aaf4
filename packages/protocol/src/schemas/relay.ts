/** Relay tickets (wire.md §1.10; reference-implementations §3.8). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'

export const RelayTicketRequestSchema = z.looseObject({ relay_node_id: z.string().min(1) })
export type RelayTicketRequest = z.infer<typeof RelayTicketRequestSchema>
export const RelayTicketResponseSchema = z.looseObject({
  ticket: z.string().min(1),
  expires_at: z.number(),
  worker_node_id: z.string(),
  relay_node_id: z.string(),
  algorithm: z.literal('ed25519'),
})
export type RelayTicketResponse = z.infer<typeof RelayTicketResponseSchema>
