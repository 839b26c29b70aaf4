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
export { startTcpRelayAcceptor } from './tcp/tcp-relay-acceptor.js'
export { createTcpRelayWorker, tcpReconnectDelayMs } from './tcp/tcp-relay-worker.js'
export {
  TcpRelayAcceptorOptionsSchema, TcpRelayWorkerOptionsSchema, parseRelayAddress, DEFAULT_RELAY_ACCEPT_PORT, DEFAULT_RELAY_HTTP_PORT,
} from './tcp/tcp-options.js'
export { RELAY_ACK_REASONS } from './tcp/bind-refusals.js'
export { isStreamingLink } from './tcp/relay-stream.js'

export type {
  RelayServer, RelayServerEvents, RelaySessionEvent, StartRelayServerOptions, StartedRelayServer,
} from './server/relay-server.js'
export type { RelayCall, RelayCallResponse, RelayCallSettle, RelayLink, RelayTransportKind } from './server/relay-session.js'
export type { RateLimit } from './server/bind-gate.js'
export type { RelayWorker, RelayWorkerEvents, RelayWorkerState } from './worker/relay-worker.js'
export type { RelayServerOptions, RelayWorkerOptions, RelayTaskHandler, RelayTaskResponse } from './options.js'
export type { RelayCandidate, ElectRelayOptions } from './election.js'
export type {
  RelayBindRequest, RelayBindResponse, RelayPulledCall, RelayPullResponse, RelayResultRequest, RelayForHealthResponse,
} from './schemas.js'
export type { TcpRelayAcceptor } from './tcp/tcp-relay-acceptor.js'
export type {
  TcpRelayWorker, TcpRelayWorkerEvents, TcpRelayWorkerState, TcpRelayBoundEvent,
} from './tcp/tcp-relay-worker.js'
export type { TcpRelayAcceptorOptions, TcpRelayWorkerOptions, RelayStreamHandler } from './tcp/tcp-options.js'
export type { RelayStreamEvent, RelayStreamSink, StreamingRelayLink } from './tcp/relay-stream.js'
