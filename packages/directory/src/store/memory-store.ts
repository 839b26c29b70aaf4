/** In-memory stores: nothing survives the process. */
import type { SigningKeyPair } from '@iicp/protocol'
import type { DirectoryStore, NodeRecord } from './types.js'

/** An in-memory DirectoryStore; pass one instance to successive directories to keep nodes across their restarts. */
export function memoryStore(): DirectoryStore {
  const nodes = new Map<string, NodeRecord>()
  let key: SigningKeyPair | undefined
  return {
    async loadNodes() {
      return [...nodes.values()]
    },
    saveNode(record) {
      nodes.set(record.node_id, record)
    },
    deleteNode(nodeId) {
      nodes.delete(nodeId)
    },
    async loadSigningKey() {
      return key
    },
    async saveSigningKey(k) {
      key = k
    },
    async flush() {},
    async close() {},
  }
}

/**
 * The store a directory uses when given none: nothing can read it back (it lives and dies with the
 * directory, whose table already holds every node), so it keeps only the signing key instead of a
 * second map of every record.
 */
export function ephemeralStore(): DirectoryStore {
  let key: SigningKeyPair | undefined
  return {
    async loadNodes() {
      return []
    },
    saveNode() {},
    deleteNode() {},
    async loadSigningKey() {
      return key
    },
    async saveSigningKey(k) {
      key = k
    },
    async flush() {},
    async close() {},
  }
}
