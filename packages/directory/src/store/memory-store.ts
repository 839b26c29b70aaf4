/** The default store: nothing survives a restart. */
import type { SigningKeyPair } from '@iicp/protocol'
import type { DirectoryStore, NodeRecord } from './types.js'

/** An in-memory DirectoryStore (the default). */
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
