/**
 * The node's `relay` option checked at construction (style: a bad value fails there with `invalid_config`),
 * without loading @iicp/relay: the pinned relay's URL and the worker tuning @iicp/relay will take.
 */
import { IicpError } from '@iicp/protocol'
import type { RelayOption } from '../options.js'

/** Worker tuning keys and their ranges, as @iicp/relay's worker schema has them. */
const TUNING: Readonly<Record<string, readonly [number, number]>> = {
  pingIntervalMs: [1, 600_000],
  pongTimeoutMs: [1, 600_000],
  connectTimeoutMs: [1, 600_000],
  reconnectBaseMs: [0, 600_000],
  reconnectMaxMs: [0, 3_600_000],
  maxReconnectAttempts: [0, Number.MAX_SAFE_INTEGER],
}

/** Normalise a pinned relay: `host:port` (the official SDKs' form) becomes `http://host:port`. */
export function pinnedRelayUrl(raw: string): string {
  const v = raw.trim().replace(/\/+$/, '')
  const url = /^https?:\/\//i.test(v) ? v : `http://${v}`
  let ok = false
  try {
    const u = new URL(url)
    ok = u.hostname !== '' && u.username === '' && u.password === '' && u.search === '' && u.hash === ''
  } catch {
    ok = false
  }
  if (!ok) throw new IicpError('invalid_config', `option relay.endpoint (IICP_RELAY_WORKER_ENDPOINT) must be an http(s) URL or host:port (got ${JSON.stringify(raw.slice(0, 80))})`)
  return url
}

/** Check `relay`: `'auto'`, or an object with an optional `endpoint` and known worker tuning. */
export function checkRelayOption(value: unknown): RelayOption | undefined {
  if (value === undefined || value === 'auto') return value
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IicpError('invalid_config', `option relay must be 'auto' or { endpoint } (got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value})`)
  }
  const o = value as Record<string, unknown>
  for (const [key, v] of Object.entries(o)) {
    if (v === undefined) continue
    if (key === 'endpoint') {
      if (typeof v !== 'string') throw new IicpError('invalid_config', 'option relay.endpoint must be a relay URL or host:port')
      pinnedRelayUrl(v)
    } else if (key === 'transport') {
      if (v !== 'auto' && v !== 'ws' && v !== 'http' && v !== 'tcp') throw new IicpError('invalid_config', "option relay.transport must be 'auto', 'ws', 'http' or 'tcp'")
    } else {
      const range = TUNING[key]
      if (range === undefined) throw new IicpError('invalid_config', `option relay.${key} is not a relay option (endpoint, transport, ${Object.keys(TUNING).join(', ')})`)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
        throw new IicpError('invalid_config', `option relay.${key} must be an integer ${range[0]}–${range[1]}`)
      }
    }
  }
  return Object.freeze({ ...o }) as RelayOption
}
