/** Ticketed dispatch and the directory key (wire.md §1.6, §1.8; reference-implementations §3.5, §3.6). */
import { z } from 'zod'
import { CxPublicKeySchema, IntentUrnSchema, ModalitySchema, QosSchema } from './common.js'

/**
 * Keys a dispatch-ticket request must never carry (dir §3.4 v1.1.16): the ticket endpoint is
 * control-plane only, so a body holding any of them is refused with 422 and nothing is echoed.
 */
export const FORBIDDEN_TICKET_KEYS = Object.freeze(['prompt', 'messages', 'payload', 'input', 'chat', 'content', 'response'] as const)
/** One of FORBIDDEN_TICKET_KEYS. */
export type ForbiddenTicketKey = (typeof FORBIDDEN_TICKET_KEYS)[number]

const forbidden: ReadonlySet<string> = new Set(FORBIDDEN_TICKET_KEYS)

/** `POST /v1/dispatch/ticket` body (wire.md §1.6; reference-implementations §3.5). */
export const DispatchTicketRequestSchema = z.looseObject({
  /** dir §3.4: intent URN, MUST. */
  intent: IntentUrnSchema,
  /** dir §3.4: pin one node; not with node_id_prefix. */
  node_id: z.string().min(1).max(36).optional(),
  /** reference-implementations §3.5: ≥ 4 chars; not with node_id. */
  node_id_prefix: z.string().min(4).max(36).optional(),
  /** dir §3.4: ≤ 10 prefixes already tried. */
  exclude_node_id_prefixes: z.array(z.string().min(1).max(36)).max(10).optional(),
  /** dir §3.4: invalid → 422. */
  qos: QosSchema.optional(),
  /** reference-implementations §3.5 */
  region: z.string().min(1).max(64).optional(),
  /** reference-implementations §3.5 */
  model: z.string().min(1).max(256).optional(),
  /** reference-implementations §3.5: 0–1. */
  min_reputation: z.number().min(0).max(1).optional(),
  /** reference-implementations §3.5: ≤ 50. */
  limit: z.number().int().min(1).max(50).optional(),
  /** reference-implementations §3.5 */
  max_multiplier: z.number().min(0).optional(),
  /** reference-implementations §3.5 */
  min_quality_score: z.number().min(0).max(1).optional(),
  /** reference-implementations §3.5 */
  cip_capable: z.boolean().optional(),
  /** reference-implementations §3.5 */
  relay_capable: z.boolean().optional(),
  /** reference-implementations §3.5 */
  include_internal: z.boolean().optional(),
  /** reference-implementations §3.5 */
  modality: ModalitySchema.optional(),
}).superRefine((v, ctx) => {
  for (const key of Object.keys(v)) {
    if (forbidden.has(key)) {
      ctx.addIssue({
        code: 'custom', path: [key],
        message: 'Dispatch ticket issuance is control-plane only; send task payloads directly to the selected node.',
      })
    }
  }
  if (v.node_id !== undefined && v.node_id_prefix !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['node_id_prefix'], message: 'node_id and node_id_prefix are mutually exclusive' })
  }
})
export type DispatchTicketRequest = z.infer<typeof DispatchTicketRequestSchema>

/** The route a ticket discloses (wire.md §1.6); PHP adds discover-style fields (reference-implementations §3.5). */
export const DispatchRouteSchema = z.looseObject({
  /** dir §3.4 */
  node_id: z.string().min(1),
  /** dir §3.4: task base URL. */
  endpoint: z.string().min(1),
  /** dir §3.4 */
  transport_endpoint: z.string().nullish(),
  /** cx §3.2 */
  cx_public_key: CxPublicKeySchema.nullish(),
})
export type DispatchRoute = z.infer<typeof DispatchRouteSchema>

/** Ticket answer, HTTP 201 (wire.md §1.6). Tickets must never be logged in full. */
export const DispatchTicketResponseSchema = z.looseObject({
  /** dir §3.4: `<base64url claims>.<128 hex Ed25519 sig>`. */
  ticket: z.string().regex(/^[A-Za-z0-9_-]+\.[0-9a-fA-F]{128}$/, 'Malformed dispatch ticket'),
  /** dir §3.4 */
  ticket_id_prefix: z.string().optional(),
  /** dir §3.4: unix seconds. */
  expires_at: z.number().int(),
  /** dir §3.4 */
  intent: z.string().min(1),
  /** dir §3.4 */
  node_id: z.string().min(1),
  /** dir §3.4 */
  node_id_prefix: z.string().optional(),
  /** dir §3.4 */
  route: DispatchRouteSchema,
  /** dir §3.4 */
  algorithm: z.literal('ed25519'),
  /** dir §3.4 */
  data_class: z.literal('ticketed_route_dispatch'),
  /** dir §3.4 */
  route_fields_present: z.literal(true),
  /** dir §3.4: the directory never takes a prompt. */
  prompt_payload_accepted: z.literal(false),
})
export type DispatchTicketResponse = z.infer<typeof DispatchTicketResponseSchema>

/** `GET /api/v1/directory-key` answer (dir §3.12). */
export const DirectoryKeyResponseSchema = z.looseObject({
  /** dir §3.12: 32-byte Ed25519 key as 64 hex. */
  public_key: z.string().regex(/^[0-9a-fA-F]{64}$/, 'public_key must be 64 hex'),
  /** dir §3.12 */
  algorithm: z.literal('ed25519'),
})
export type DirectoryKeyResponse = z.infer<typeof DirectoryKeyResponseSchema>
