/** The slice of a pino-style logger the packages use; pino satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

const noop = (): void => {}
/** A logger that drops everything (the default: libraries never print on their own). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger }

/**
 * pino `redact` paths for the credentials and payloads that must never be logged (frm §4.3 LOG-FORBIDDEN;
 * core §3.1 SEC-LOG-01; SDK-06). Pass as `pino({ redact: [...LOG_REDACT_PATHS] })`.
 */
export const LOG_REDACT_PATHS: readonly string[] = Object.freeze([
  'node_token', '*.node_token', 'current_node_token', '*.current_node_token', 'proxy_token', '*.proxy_token',
  'jwt_token', '*.jwt_token', 'node_hmac_key', '*.node_hmac_key', 'auth_token', '*.auth_token', 'token', '*.token',
  'ticket', '*.ticket', 'auth', '*.auth', 'payload', '*.payload', 'result', '*.result', 'iicp_conf', '*.iicp_conf',
  'headers.authorization', '*.headers.authorization', 'headers["x-iicp-consumer-token"]',
  '*.headers["x-iicp-consumer-token"]',
])
