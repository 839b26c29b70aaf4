/** What a bound worker transport looks like to the worker's supervisor loop. */
import { IicpError } from '@iicp/protocol'

/** One bound session from the worker's side. */
export interface WorkerConnection {
  readonly transport: 'ws' | 'http'
  /** Settles with the reason once the session is over (never rejects). */
  readonly ended: Promise<string>
  /** Unbind and release sockets; idempotent. */
  close(): Promise<void>
}

const refused = new WeakSet<IicpError>()
const transportMissing = new WeakSet<IicpError>()

/** An error the relay answered with (the relay decided; retrying another transport would not change that). */
export function relayRefusal(code: string, message: string, status: number, extra?: Record<string, unknown>): IicpError {
  const err = new IicpError(code, `relay refused the bind: ${message}`, extra === undefined ? { status } : { status, extra })
  refused.add(err)
  return err
}

export function isRelayRefusal(err: unknown): boolean {
  return err instanceof IicpError && refused.has(err)
}

/** The relay answered but has no such transport (e.g. no WebSocket endpoint). */
export function transportUnavailable(message: string, status: number): IicpError {
  const err = new IicpError('connection_failed', message, { status })
  transportMissing.add(err)
  return err
}

export function isTransportUnavailable(err: unknown): boolean {
  return err instanceof IicpError && transportMissing.has(err)
}

/** Read a relay's `{error:{code,message}}` answer into a refusal. */
export function refusalFromBody(status: number, text: string): IicpError {
  let code = status === 429 ? 'rate_limited' : status >= 500 ? 'service_unavailable' : 'validation_error'
  let message = `HTTP ${status}`
  let extra: Record<string, unknown> | undefined
  try {
    const body: unknown = JSON.parse(text)
    const e = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined
    if (typeof e === 'object' && e !== null) {
      const { code: c, message: m, ...rest } = e as Record<string, unknown>
      if (typeof c === 'string') code = c
      if (typeof m === 'string') message = m
      if (Object.keys(rest).length > 0) extra = rest
    }
  } catch {
    // Not JSON (a relay that answers HTML): keep the status-derived code.
  }
  return relayRefusal(code, message, status, extra)
}
