/** HEARTBEAT / PONG (wire.md §1.3). FIRST DRAFT: schemas helper refines. */
import { z } from 'zod'

export const HeartbeatMetricsSchema = z.looseObject({
  tasks_success: z.number().int().min(0).max(1000),
  tasks_failed: z.number().int().min(0).max(1000),
  avg_latency_ms: z.number().min(0),
})
export const HeartbeatRequestSchema = z.looseObject({
  node_id: z.string().min(1),
  load: z.number().min(0).max(1).optional(),
  active_jobs: z.number().int().min(0).optional(),
  available: z.boolean().optional(),
  status: z.string().optional(),
  max_concurrent: z.number().int().min(1).max(256).optional(),
  metrics: HeartbeatMetricsSchema.optional(),
  metrics_batch_id: z.string().min(1).max(64).optional(),
  challenge_response: z.string().optional(),
})
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>

export const HeartbeatResponseSchema = z.looseObject({
  ok: z.literal(true),
  next_heartbeat_ms: z.number().int().positive(),
  reputation_score: z.number().nullish(),
  reputation_model: z.string().nullish(),
  reputation_epoch: z.string().nullish(),
  metrics_batch_accepted: z.string().nullish(),
  challenge: z.string().nullish(),
})
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>
