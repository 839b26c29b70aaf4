/** The error envelope `{error:{code,message}}` (wire.md §0.2). */
import { z } from 'zod'

export const ErrorEnvelopeSchema = z.looseObject({
  error: z.looseObject({
    code: z.string().min(1),
    message: z.string(),
    fields: z.record(z.string(), z.array(z.string())).optional(),
    retry_after_ms: z.number().optional(),
  }),
})
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>
