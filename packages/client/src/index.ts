// Public API of @iicp/client: every export is listed here by name; types separately.
export { IicpClient } from './iicp-client.js'
export { parseClientOptions } from './options.js'
export { clientOptionsFromEnv } from './env.js'
export { CHAT_INTENT } from './chat.js'
export { mayServeModel, selectNodes, weightedV1Order } from './select-node.js'
export { retryDecision, backoffDelay, classifyFailure } from './retry.js'
export { CircuitBreakers } from './breaker.js'
export { addressAllowed, hostnameAllowed, checkEndpoint, redirectDecision } from './endpoint-security.js'
export { guardedLookup } from './http.js'
export { projectRequest } from './projection.js'
export { NativeClient, parseNativeEndpoint } from './native/native-client.js'
export {
  strategyOrder, softmaxTopKOrder, seededRandom, ROUTING_STRATEGIES, DEFAULT_STRATEGY_PARAMS,
} from './routing/strategies.js'
export { applyRoutingPolicy, parseRoutingPolicy, policyRefusal, ROUTING_POLICY_NAMES } from './routing/policy.js'
export { canonicalPolicyManifest, policyManifestBinding, policyManifestSha256 } from './routing/manifest-binding.js'
export { routingReceipt, ROUTING_RECEIPT_VERSION } from './routing/receipt.js'
export { candidateEvidence, consultRanker, EvidenceRefs, CANDIDATE_EVIDENCE_VERSION } from './routing/ranker.js'
export { ConsumerTokens, consumerTokenExpiryMs, CONSUMER_TOKEN_REFRESH_MARGIN_MS } from './consumer-token.js'
export {
  FederatedDirectory, canonicalQuery, replicaSigningInput, verifyReplicaSignature, didWebDocumentUrl, ed25519KeyFromDidDocument,
  parseReplicaRegistry, FEDERATION_HEADERS, MAX_FEDERATION_REDIRECTS, DEFAULT_REDIRECT_CACHE_MS,
} from './federation.js'

export type {
  DiscoverOptions, SubmitOptions, ChatOptions, ChatStreamOptions, TaskResult, NodeListResultPublic as NodeList,
} from './iicp-client.js'
export type { ClientConfig, ClientOptions, RouteDiscoveryMode, SelectionStrategy } from './options.js'
export type { ChatMessage, ChatCompletion } from './chat.js'
export type { AttemptError } from './failover.js'
export type { Candidate, Selection, SelectionPolicy, RefusalReason } from './select-node.js'
export type { FailureClass, RetryDecision } from './retry.js'
export type { BreakerState } from './breaker.js'
export type { EndpointCheck } from './endpoint-security.js'
export type { RouteOptions, TaskLevelOptions, ProjectedRequest, ProfileRequest } from './projection.js'
export type { RoutingStrategy, StrategyParams, Scored } from './routing/strategies.js'
export type { RoutingPolicy, RoutingPolicyName, PolicyRefusal, PolicyVerdict } from './routing/policy.js'
export type { ManifestBinding } from './routing/manifest-binding.js'
export type { RoutingReceipt } from './routing/receipt.js'
export type { CandidateEvidence, CandidateRanker, RankerContext, RankOutcome } from './routing/ranker.js'
export type { ConsumerAuthMode } from './consumer-token.js'
export type { DirectoryReply, DirectoryRequest, FederatedDirectoryOptions, ReplicaEntry } from './federation.js'
export type { NativeClientOptions, NativeCallOptions, NativeCancellation, NativeEndpoint, NativeTimers } from './native/native-client.js'
export type { TransportChoice } from './native/native-task-call.js'
export type { ChatCompletionChunk } from './native/chat-stream.js'
