/**
 * The node's default pino logger (frm §4.3, §4.16; IICP-core SEC-LOG-01): tokens, keys and task
 * payloads are redacted by the logger's configuration, not at each call site.
 */
import { pino } from 'pino'
import type { DestinationStream, Level } from 'pino'
import type { Logger } from '@iicp/protocol'

/** Paths pino censors wherever they appear in a log object (one level deep, plus headers). */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  'node_token', '*.node_token', 'current_node_token', '*.current_node_token', 'token', '*.token',
  'node_hmac_key', '*.node_hmac_key', 'proxy_token', '*.proxy_token', 'apiKey', '*.apiKey',
  'authorization', '*.authorization', 'headers.authorization', 'headers["x-iicp-consumer-token"]',
  'payload', '*.payload', 'messages', '*.messages', 'iicp_conf', '*.iicp_conf', 'cx_private_key', '*.cx_private_key',
  'privateKey', '*.privateKey', 'auth', '*.auth', 'ticket', '*.ticket', 'jwt_token', '*.jwt_token', 'result', '*.result',
])

/** Options of {@link createNodeLogger}. */
export interface NodeLoggerOptions {
  /** @default 'info' */
  level?: Level | 'silent'
  /** Where lines go. @default stdout */
  destination?: DestinationStream
}

/** A pino logger with the node's redaction rules, usable as the `logger` option. */
export function createNodeLogger(options: NodeLoggerOptions = {}): Logger {
  const config = { level: options.level ?? 'info', redact: { paths: [...REDACT_PATHS], censor: '[redacted]' }, base: { name: 'iicp-node' } }
  return options.destination === undefined ? pino(config) : pino(config, options.destination)
}
