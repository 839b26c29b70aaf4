// Public API of @iicp/protocol: every export is listed here by name; types separately.
export {
  DEFAULT_DIRECTORY_URL, DEFAULT_NODE_PORT, NODE_PORT_BAND_SIZE, RELAY_ACCEPT_PORT, PROXY_PORT,
  HEARTBEAT_INTERVAL_MS, NODE_EXPIRY_MS, FIRST_HEARTBEAT_DEADLINE_MS, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS,
  MIN_TASK_TIMEOUT_MS, RETRY_POLICY, BREAKER_POLICY, DISCOVER_DEFAULT_LIMIT, DISCOVER_MAX_LIMIT,
  REGISTER_RATE_LIMIT, IICP_VERSION_HEADER_VALUE, SDK_LANGUAGE, SDK_VERSION, DEFAULT_MAX_BODY_BYTES,
  MAX_WIRE_TIMEOUT_MS, HEARTBEAT_RETRY_POLICY, MAX_DIRECTORY_REDIRECTS,
} from './constants.js'
export { IicpError, isIicpError, ERROR_CATALOGUE, errorBody, errorFromResponse, statusOf, redactSecrets } from './errors.js'
export {
  validateIntent, assertIntent, parseIntent, intentRisk, intentRiskRule, REGISTERED_INTENTS, INTENT_RISK_RULES,
  INTENT_URN_MAX_LENGTH,
} from './intents.js'
export { parseTraceparent, formatTraceparent, newTraceContext, childSpan } from './trace.js'
export { directoryApiUrl, directoryOrigin, normalizeDirectoryUrl, classifyHost, isPrivateOrLocalHost } from './urls.js'
export { parseWire, safeParseWire } from './parse.js'
export {
  signDispatchTicket, verifyDispatchTicket, signRelayBindTicket, verifyRelayBindTicket,
  generateSigningKeyPair, signingKeyPairFromPkcs8, DISPATCH_TICKET_CONTEXT, RELAY_BIND_TICKET_CONTEXT,
  DISPATCH_TICKET_AUDIENCE, TICKET_REJECT_REASONS,
} from './tickets.js'
export { heartbeatChallengeResponse, verifyChallengeResponse, sha256Hex, randomHex, timingSafeEqualHex } from './hmac.js'
export {
  generateCxKeyPair, cxPublicKeyDescriptor, encryptRequest, decryptRequest, encryptResponse, decryptResponse,
  importCxPrivateKey, exportCxPrivateKey, cxKeyId,
} from './cx.js'
export { cryptoBackend, setCryptoBackend } from './crypto/backend.js'
export { canonicalPolicyManifest, verifyPolicyManifest } from './policy-manifest.js'
export { silentLogger, LOG_REDACT_PATHS } from './logger.js'
export * from './schemas/index.js'

export type { ErrorCode, ErrorSpec, IicpErrorOptions } from './errors.js'
export type { ParsedIntent, IntentRisk, IntentRiskRule } from './intents.js'
export type { TraceContext, RandomBytes } from './trace.js'
export type { HostClass } from './urls.js'
export type {
  DispatchTicketClaims, RelayBindTicketClaims, SigningKeyPair, TicketVerifyOptions, TicketVerifyResult, TicketRejectReason,
} from './tickets.js'
export type { CryptoBackend } from './crypto/backend.js'
export type { PolicyManifestStatus, PolicyManifestVerification } from './policy-manifest.js'
export type { CxKeyPair, CxResponseContext, EncryptedRequest, DecryptedRequest } from './cx.js'
export type { Logger } from './logger.js'

// Native transport (framing + CBOR)
export {
  NATIVE_FRAME_MAGIC, NATIVE_FRAME_HEADER_BYTES, NATIVE_MAX_PAYLOAD_BYTES, NATIVE_FRAMING_VERSION, NativeMessageType,
  NativeFrameFlags, encodeFrame, decodeFrame, FrameDecoder, sniffProtocol,
} from './native/frame.js'
export { encodeCbor, decodeCbor } from './native/cbor.js'
export {
  encodeNativeMessage, encodeNativePayload, decodeNativeMessage, nativeTypeOf, isNativeMessageType, closeFor,
} from './native/messages.js'
export type {
  Frame, NativeCodecError, NativeErrorCode, NativeMessageTypeName, EncodeFrameOptions, DecodeFrameResult, FramePushResult,
  FrameDecoderOptions, SniffResult,
} from './native/frame.js'
export { streamEvent, streamEventName, StreamSequence, STREAM_RELAY_BUFFER_EVENTS, STREAM_BACKPRESSURE_ERROR } from './native/streaming.js'
export { encodeJsonBytes, decodeJsonBytes, readCallPayload, readResponseResult } from './native/payload.js'
export {
  fragmentFrame, FragmentAssembler, MAX_FRAGMENTS, FRAGMENT_TIMEOUT_MS, FRAGMENT_THRESHOLD_BYTES,
} from './native/fragments.js'
export type { DecodeCborResult, DecodeCborOptions } from './native/cbor.js'
export type { StreamStatus, StreamEventInit, StreamSequenceError, StreamSequenceErrorCode } from './native/streaming.js'
export type { PayloadResult } from './native/payload.js'
export type { FragmentOptions, FragmentAssemblerOptions, FragmentResult } from './native/fragments.js'
export type {
  NativeMessage, NativeMessageKind, NativeInit, NativeAck, NativeDiscover, NativeDiscoverResponse, NativeSubProtocol,
  NativeCall, NativeResponse, NativeStreamEvent, NativeClose, NativeFeedback, NativePing, NativePong, NativeRelayBind,
  NativeRelayAck, NativeObserve, NativeTelemetry, DecodeMessageResult,
} from './native/messages.js'
