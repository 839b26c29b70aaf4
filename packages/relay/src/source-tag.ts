/**
 * Log-safe tags for source addresses (IICP-DIR §7.3: raw source addresses are never logged). An unkeyed hash of
 * an IPv4 address is reversed by trying all 2^32 of them, so the tag is an HMAC under a key drawn once per process
 * and never stored: tags correlate log lines of one running relay and nothing else.
 */
import { createHmac, randomBytes } from 'node:crypto'

const KEY = randomBytes(32)

/** The 12-hex tag this process logs for `source` in place of the address. */
export function sourceTag(source: string): string {
  return createHmac('sha256', KEY).update(source).digest('hex').slice(0, 12)
}
