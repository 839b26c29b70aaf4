/** The error envelope `{error:{code,message}}` (wire.md §0.2, §2.4; reference-implementations §3.0). */
import { z } from 'zod'
import { recordOf } from './common.js'

/** Error envelope; extra keys are allowed where specified (wire.md §2.4). */
export const ErrorEnvelopeSchema = z.looseObject({
  error: z.looseObject({
    /** core §7 */
    code: z.string().min(1),
    /** core §7: human text, never a stack or a path. */
    message: z.string(),
    /** reference-implementations §3.0: dotted path → messages on 422. */
    fields: recordOf(z.array(z.string())).optional(),
    /** sem §2.2: with capacity_exceeded. */
    retry_after_ms: z.number().min(0).optional(),
    /** dir §5: with IICP-E034, seconds. */
    retry_after: z.number().min(0).optional(),
    /** sem §2.2: with capacity_exceeded. */
    qos_class: z.string().optional(),
    /** dir §7.3: e.g. `relay_bind_rate_limited`. */
    reason: z.string().optional(),
  }),
})
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>
