// Public API of @iicp/relay: every export is listed here by name; types separately.
export { createRelayServer, startRelayServer } from './server/relay-server.js'
export { RelaySession, RelaySessionTable } from './server/relay-session.js'
export { createRelayWorker } from './worker/relay-worker.js'
export { electRelay, rankRelays, relayEndpointFor, RELAY_MIN_REPUTATION } from './election.js'
export { RelayServerOptionsSchema, RelayWorkerOptionsSchema } from './options.js'
export {
  parseRelayBindRequest, parseRelayBindResponse, parseRelayPullResponse, parseRelayResultRequest, isValidWorkerId,
  WorkerIdSchema, RelayBindRequestSchema, RelayBindResponseSchema, RelayPulledCallSchema, RelayPullResponseSchema,
  RelayResultRequestSchema, RelayForHealthResponseSchema,
} from './schemas.js'

export type {
  RelayServer, RelayServerEvents, RelaySessionEvent, StartRelayServerOptions, StartedRelayServer,
} from './server/relay-server.js'
export type { RelayCall, RelayCallResponse, RelayLink, RelayTransportKind } from './server/relay-session.js'
export type { RateLimit } from './server/bind-gate.js'
export type { RelayWorker, RelayWorkerEvents, RelayWorkerState } from './worker/relay-worker.js'
export type { RelayServerOptions, RelayWorkerOptions, RelayTaskHandler, RelayTaskResponse } from './options.js'
export type { RelayCandidate, ElectRelayOptions } from './election.js'
export type {
  RelayBindRequest, RelayBindResponse, RelayPulledCall, RelayPullResponse, RelayResultRequest, RelayForHealthResponse,
} from './schemas.js'
