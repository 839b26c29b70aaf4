/**
 * The node's live identity, shared by registration (which writes it) and the task path (which reads it
 * on every request). Secrets in here are never logged.
 */
import type { KeyObject } from 'node:crypto'
import type { CxKeyPair } from '@iicp/protocol'

/** Mutable identity state; one per node. */
export interface NodeIdentity {
  nodeId: string
  /** The last token the directory accepted; undefined before the first registration. */
  nodeToken: string | undefined
  /** HMAC key for heartbeat challenges (reference-implementations §3.2). */
  hmacKey: string | undefined
  /** Directory Ed25519 key for consumer tokens, once fetched. */
  directoryKey: KeyObject | undefined
  /** X25519 pair for IICP-CX, when enabled. */
  cxKeyPair: CxKeyPair | undefined
  /** What the directory saw as our source address (IICP-core §11.2). */
  observedSourceIp: string | undefined
  /** The endpoint last accepted by the directory. */
  endpoint: string | undefined
}
