// Public API of @iicp/client: every export is listed here by name; types separately.
export { IicpClient } from './iicp-client.js'
export { parseClientOptions } from './options.js'
export { clientOptionsFromEnv } from './env.js'
export { CHAT_INTENT } from './chat.js'
export { selectNodes, weightedV1Order } from './select-node.js'
export { retryDecision, backoffDelay, classifyFailure } from './retry.js'
export { CircuitBreakers } from './breaker.js'
export { addressAllowed, hostnameAllowed, checkEndpoint, redirectDecision } from './endpoint-security.js'
export { projectRequest } from './projection.js'

export type {
  DiscoverOptions, SubmitOptions, ChatOptions, TaskResult, NodeListResultPublic as NodeList,
} from './iicp-client.js'
export type { ClientConfig, ClientOptions, RouteDiscoveryMode, SelectionStrategy } from './options.js'
export type { ChatMessage, ChatCompletion } from './chat.js'
export type { AttemptError } from './failover.js'
export type { Candidate, Selection, SelectionPolicy, RefusalReason } from './select-node.js'
export type { FailureClass, RetryDecision } from './retry.js'
export type { BreakerState } from './breaker.js'
export type { EndpointCheck } from './endpoint-security.js'
export type { RouteOptions, TaskLevelOptions, ProjectedRequest, ProfileRequest } from './projection.js'
