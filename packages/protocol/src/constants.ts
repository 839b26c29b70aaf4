/** Protocol constants (wire.md §1.12, §5; IICP-core §4). */
export const DEFAULT_DIRECTORY_URL = 'https://iicp.network/api'
/** Default node port (frm §11.1). */
export const DEFAULT_NODE_PORT = 9484
/** How many ports past the default a node may auto-increment through. */
export const NODE_PORT_BAND_SIZE = 16
/** Default TCP relay accept port (official-sdks §5). */
export const RELAY_ACCEPT_PORT = 9485
/** Default port of the local OpenAI-compatible proxy. */
export const PROXY_PORT = 9483
export const HEARTBEAT_INTERVAL_MS = 30_000
export const NODE_EXPIRY_MS = 90_000
export const FIRST_HEARTBEAT_DEADLINE_MS = 35_000
export const DEFAULT_TIMEOUT_MS = 30_000
export const MAX_TIMEOUT_MS = 120_000
export const MIN_TASK_TIMEOUT_MS = 100
/** SDK retry policy: attempts, base delay, multiplier, ±jitter fraction (sem §6.1). */
export const RETRY_POLICY = Object.freeze({ maxAttempts: 3, baseDelayMs: 200, factor: 2, jitter: 0.2 })
/** Per-node circuit breaker (sem §7.2). */
export const BREAKER_POLICY = Object.freeze({ failureThreshold: 5, openMs: 30_000 })
export const DISCOVER_DEFAULT_LIMIT = 10
export const DISCOVER_MAX_LIMIT = 50
export const REGISTER_RATE_LIMIT = Object.freeze({ max: 60, windowMs: 60_000 })
export const IICP_VERSION_HEADER_VALUE = '1.5'
export const SDK_LANGUAGE = 'typescript'
export const SDK_VERSION = '0.1.0'
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
