/**
 * RELAY_ACK refusal reasons (official-sdks.md §5.2 step 3): the reference relay sends fixed English phrases, not
 * codes, so the relay turns its IicpError refusals into those phrases and the worker reads them back into codes.
 */
import { IicpError } from '@iicp/protocol'

/** The reference relay's phrases, in its check order (fixtures/interop native notes). */
export const RELAY_ACK_REASONS = Object.freeze({
  ticketInvalid: 'relay bind ticket invalid',
  ticketRequired: 'relay bind ticket required',
  alive: 'worker_id already bound to an alive session',
  rateLimited: 'relay_bind_rate_limited',
  capacity: 'relay at session capacity',
  ticketReplayed: 'relay bind ticket replayed',
} as const)

/** The RELAY_ACK `reason` (key 3) for a bind refusal thrown by `RelayServer.bindSession`. */
export function reasonFor(err: unknown): string {
  if (!(err instanceof IicpError)) return 'relay error'
  switch (err.code) {
    case 'IICP-E038':
      return RELAY_ACK_REASONS.alive
    case 'IICP-E039':
      return err.status === 429 ? RELAY_ACK_REASONS.rateLimited : RELAY_ACK_REASONS.capacity
    case 'IICP-E040':
      if (err.status === 409) return RELAY_ACK_REASONS.ticketReplayed
      // Our message carries the verifier's reason after the phrase (`…invalid: expired`); keep it, it is content-free.
      return err.message.startsWith(RELAY_ACK_REASONS.ticketInvalid) ? err.message : RELAY_ACK_REASONS.ticketRequired
    case 'validation_error':
      return `invalid RELAY_BIND: ${err.message}`
    default:
      return `relay unavailable: ${err.code}`
  }
}

/** The IicpError a worker raises for a RELAY_ACK refusal (status and code as the HTTP transports use them). */
export function refusalFromReason(reason: string | undefined): IicpError {
  const text = reason ?? 'no reason given'
  const msg = `relay refused the bind: ${text}`
  if (text.startsWith(RELAY_ACK_REASONS.ticketInvalid)) return new IicpError('IICP-E040', msg, { status: 401 })
  if (text.startsWith(RELAY_ACK_REASONS.ticketRequired)) return new IicpError('IICP-E040', msg, { status: 401 })
  if (text.startsWith(RELAY_ACK_REASONS.ticketReplayed)) return new IicpError('IICP-E040', msg, { status: 409 })
  if (text.includes('already bound')) return new IicpError('IICP-E038', msg, { status: 409 })
  if (text.includes('rate_limited') || text.includes('rate limit')) {
    return new IicpError('IICP-E039', msg, { status: 429, retryable: true, extra: { reason: 'relay_bind_rate_limited' } })
  }
  if (text.includes('capacity')) return new IicpError('IICP-E039', msg, { status: 503, retryable: true, extra: { reason: 'relay_at_capacity' } })
  if (text.startsWith('invalid RELAY_BIND')) return new IicpError('validation_error', msg, { status: 422 })
  return new IicpError('service_unavailable', msg, { status: 503, retryable: true })
}
