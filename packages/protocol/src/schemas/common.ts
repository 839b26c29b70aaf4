/** Building blocks shared by several messages (wire.md §1.2, §7; cx §3.1). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'

/** Intent URN as a string; full rules live in intents.ts. */
export const IntentUrnSchema = z.string().min(1).max(256)

export const CxPublicKeySchema = z.looseObject({
  algorithm: z.literal('X25519'),
  encoding: z.literal('base64url'),
  key: z.string().min(1),
  key_id: z.string().min(1),
  not_after: z.union([z.string(), z.number()]).nullish(),
  hybrid_pq: z.unknown().nullish(),
  features: z.array(z.string()).optional(),
})
export type CxPublicKey = z.infer<typeof CxPublicKeySchema>

export const CapabilitySchema = z.looseObject({
  intent: IntentUrnSchema,
  models: z.array(z.string().min(1)).optional(),
  max_tokens: z.number().int().positive().optional(),
  input_modalities: z.array(z.enum(['text', 'image', 'audio', 'video'])).optional(),
  quantization: z.string().optional(),
  inference_engine: z.string().optional(),
})
export type Capability = z.infer<typeof CapabilitySchema>

export const LimitsSchema = z.looseObject({
  max_concurrent: z.number().int().min(1).max(256),
  tokens_per_min: z.number().int().positive().optional(),
})
export type Limits = z.infer<typeof LimitsSchema>

export const QosSchema = z.enum(['realtime', 'interactive', 'batch', 'best-effort'])
export type Qos = z.infer<typeof QosSchema>

export const TransportMethodSchema = z.enum(['direct', 'upnp_mapped', 'stun_hole_punch', 'turn_relay', 'external_tunnel', 'webrtc_datachannel'])
export type TransportMethod = z.infer<typeof TransportMethodSchema>

export const NatTypeSchema = z.enum(['full_cone', 'restricted_cone', 'port_restricted', 'symmetric', 'unknown'])
