/** CALL / RESPONSE (wire.md §2.2–2.4; schemas/task.json; cx §4). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'
import { QosSchema } from './common.js'

export const IicpConfSchema = z.looseObject({
  version: z.literal(1),
  recipient_key_id: z.string().min(1),
  kem_ciphertext: z.string().min(1),
  encrypted_body: z.string().min(1),
  nonce: z.string().min(1),
  aad: z.string().optional(),
  plaintext_size: z.number().int().min(0).optional(),
})
export type IicpConf = z.infer<typeof IicpConfSchema>
export const IicpConfRespSchema = z.looseObject({
  version: z.literal(1),
  nonce: z.string().min(1),
  encrypted_body: z.string().min(1),
})
export type IicpConfResp = z.infer<typeof IicpConfRespSchema>

export const TaskConstraintsSchema = z.looseObject({
  timeout_ms: z.number().int().min(100).max(300000).optional(),
  qos: QosSchema.optional(),
  qos_class: QosSchema.optional(),
})
export const TaskRequestSchema = z.looseObject({
  task_id: z.string().uuid(),
  intent: z.string().min(1),
  payload: z.unknown().optional(),
  constraints: TaskConstraintsSchema.optional(),
  trace: z.looseObject({ trace_id: z.string().optional(), span_id: z.string().optional() }).optional(),
  auth: z.looseObject({ node_token: z.string().optional() }).optional(),
  nonce: z.string().optional(),
  iicp_conf: IicpConfSchema.optional(),
  cx_response_encryption: z.enum(['required', 'optional', 'none']).optional(),
})
export type TaskRequest = z.infer<typeof TaskRequestSchema>

/** Status read leniently: `completed` and `ok` mean success (official-sdks §8.2). */
export const TaskStatusSchema = z.preprocess(
  (v) => (v === 'completed' || v === 'ok' ? 'success' : v),
  z.enum(['success', 'error', 'failure', 'timeout', 'encrypted']),
)
export const TaskResponseSchema = z.looseObject({
  task_id: z.string(),
  status: TaskStatusSchema,
  result: z.unknown().optional(),
  error: z.unknown().nullish(),
  metrics: z.looseObject({ latency_ms: z.number().optional(), tokens_used: z.number().optional() }).nullish(),
  model_used: z.string().nullish(),
  node_id: z.string().optional(),
  iicp_conf_resp: IicpConfRespSchema.optional(),
})
export type TaskResponse = z.infer<typeof TaskResponseSchema>
