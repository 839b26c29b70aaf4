/** REGISTER / ACK / DEREGISTER (wire.md §1.2, §1.4). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'
import { CapabilitySchema, CxPublicKeySchema, LimitsSchema, NatTypeSchema, TransportMethodSchema } from './common.js'

export const RegisterRequestSchema = z.looseObject({
  endpoint: z.string().min(1).max(2048),
  region: z.string().min(1).max(64),
  capabilities: z.array(CapabilitySchema).min(1),
  limits: LimitsSchema,
  node_id: z.string().max(36).optional(),
  current_node_token: z.string().optional(),
  transport_endpoint: z.string().nullish(),
  transport_method: TransportMethodSchema.nullish(),
  relay_endpoint: z.string().nullish(),
  relay_capable: z.boolean().optional(),
  relay_accept_port: z.number().int().min(1).max(65535).optional(),
  nat_type: NatTypeSchema.nullish(),
  exposure_mode: z.string().nullish(),
  cx_public_key: CxPublicKeySchema.nullish(),
  sdk_language: z.string().optional(),
  sdk_version: z.string().optional(),
  sdk_compatibility_version: z.string().optional(),
  implementation_name: z.string().optional(),
  implementation_version: z.string().optional(),
})
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>

export const RegisterAckSchema = z.looseObject({
  node_id: z.string().min(1),
  node_token: z.string().min(1),
  node_hmac_key: z.string().optional(),
  proxy_token: z.string().optional(),
  expires_at: z.union([z.string(), z.number()]).nullish(),
  directory: z.string().optional(),
  observed_source_ip: z.string().optional(),
  message_type: z.string().optional(),
})
export type RegisterAck = z.infer<typeof RegisterAckSchema>

export const DeregisterRequestSchema = z.looseObject({ node_id: z.string().min(1) })
export type DeregisterRequest = z.infer<typeof DeregisterRequestSchema>
export const DeregisterResponseSchema = z.looseObject({ deregistered: z.boolean() })
export type DeregisterResponse = z.infer<typeof DeregisterResponseSchema>
