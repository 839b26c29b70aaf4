/** Relay bind tickets (wire.md §1.10; dir §7.4; reference-implementations §3.8). */
import { z } from 'zod'

/** `POST /v1/relay/ticket` body; without `relay_node_id` the ticket audience is `*`. */
export const RelayTicketRequestSchema = z.looseObject({
  /** reference-implementations §3.8: the relay the worker will bind to. */
  relay_node_id: z.string().min(1).max(36).optional(),
})
export type RelayTicketRequest = z.infer<typeof RelayTicketRequestSchema>

/** Relay ticket answer, HTTP 201 (reference-implementations §3.8). */
export const RelayTicketResponseSchema = z.looseObject({
  /** dir §7.4: `<base64url claims>.<hex Ed25519 sig>`; never log in full. */
  ticket: z.string().regex(/^[A-Za-z0-9_-]+\.[0-9a-fA-F]+$/, 'Malformed relay ticket'),
  /** dir §7.4: unix seconds (iat + 120). */
  expires_at: z.number().int(),
  /** dir §7.4: the worker this ticket binds. */
  worker_node_id: z.string().min(1),
  /** dir §7.4: the relay audience or `*`. */
  relay_node_id: z.string().min(1),
  /** dir §7.4 */
  algorithm: z.literal('ed25519'),
})
export type RelayTicketResponse = z.infer<typeof RelayTicketResponseSchema>
