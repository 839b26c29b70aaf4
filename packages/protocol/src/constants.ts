/** Protocol constants, each checked against wire.md (section named on each line). */

/** Default directory base; paths are appended as `/v1/…` (wire.md §0.1). */
export const DEFAULT_DIRECTORY_URL = 'https://iicp.network/api'
/** Default node port, provisional and IANA-unassigned (wire.md §6.5; frm §11.1; core §11.3). */
export const DEFAULT_NODE_PORT = 9484
/**
 * How many ports past the default a node may auto-increment through: 9485–9490 is the band frm §11.1
 * reserves for additional node instances on one host (wire.md §6.5). Note 9485 is also the reference
 * SDKs' relay accept port, so a second node and a relay on one host collide (official-sdks.md §8).
 */
export const NODE_PORT_BAND_SIZE = 6
/** Default TCP relay accept port of the reference SDKs (official-sdks.md §5; not in the spec). */
export const RELAY_ACCEPT_PORT = 9485
/** Default port of the local OpenAI-compatible proxy: 9480–9483 is the local client band (wire.md §6.5). */
export const PROXY_PORT = 9483
/** Heartbeat interval; PONG `next_heartbeat_ms` default (wire.md §1.3, §1.12; core §4). */
export const HEARTBEAT_INTERVAL_MS = 30_000
/** A node without a valid heartbeat for this long is dormant and leaves discover (wire.md §1.3; core §4.2). */
export const NODE_EXPIRY_MS = 90_000
/** First heartbeat must follow `node.start()` within this (cts SDK-NODE-01, NODE-REG-02; wire.md §1.3). */
export const FIRST_HEARTBEAT_DEADLINE_MS = 35_000
/** Client default `timeout_ms` (wire.md §5.4: the value the spec's fixtures and samples use). */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Client cap: larger `timeout_ms` is rejected at construction with `invalid_config` (cts SDK-04; wire.md §5.1). */
export const MAX_TIMEOUT_MS = 120_000
/** Smallest `constraints.timeout_ms` the task schema allows (schemas/task.json range 100–300000; wire.md §2.2). */
export const MIN_TASK_TIMEOUT_MS = 100
/** Largest `constraints.timeout_ms` the task schema allows on the wire (schemas/task.json; wire.md §9 item 33). */
export const MAX_WIRE_TIMEOUT_MS = 300_000
/** SDK retry policy: attempts, base delay, multiplier, ±jitter fraction (sem §6.1; wire.md §4.3). */
export const RETRY_POLICY = Object.freeze({ maxAttempts: 3, baseDelayMs: 200, factor: 2, jitter: 0.2 })
/** Directory heartbeat retry: 2 attempts, 100 ms base, timeouts only (sem §6.2; wire.md §1.3). */
export const HEARTBEAT_RETRY_POLICY = Object.freeze({ maxAttempts: 2, baseDelayMs: 100 })
/** Per-node circuit breaker: open after 5 consecutive failures, for 30 s, then half-open (sem §7.2; wire.md §4.4). */
export const BREAKER_POLICY = Object.freeze({ failureThreshold: 5, openMs: 30_000 })
/** Discover `limit` default (wire.md §1.12; core §5). */
export const DISCOVER_DEFAULT_LIMIT = 10
/** Discover `limit` maximum (wire.md §1.12; core §5). */
export const DISCOVER_MAX_LIMIT = 50
/** REGISTER rate limit: 60 per rolling 60 s per source IP, then 429 `IICP-E034` (dir §3.1, §6; wire.md §1.2). */
export const REGISTER_RATE_LIMIT = Object.freeze({ max: 60, windowMs: 60_000 })
/** Consecutive federation 307 redirects a client follows at most (fed §6.2 DIR-FED-06; wire.md §1.11). */
export const MAX_DIRECTORY_REDIRECTS = 3
/** `X-IICP-Version` header value on outbound HTTP-mode requests (frm §5.3; wire.md §0.2). */
export const IICP_VERSION_HEADER_VALUE = '1.5'
/** `sdk_language` sent on REGISTER (dir §3.1; wire.md §1.2). */
export const SDK_LANGUAGE = 'typescript'
/** `sdk_version` sent on REGISTER; kept equal to the package version (dir §3.1). */
export const SDK_VERSION = '0.1.0'
/** Largest HTTP body a server accepts: the native CALL payload cap of 1 MiB compressed (frm §2; wire.md §6.5). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
