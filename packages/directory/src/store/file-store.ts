/**
 * A JSON-file store so a restarted local directory keeps its signing key and nodes. Writes are debounced
 * and atomic (temp file + rename); the key is written at once because tickets depend on it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { IicpError } from '@iicp/protocol'
import type { SigningKeyPair } from '@iicp/protocol'
import type { DirectoryStore, NodeRecord } from './types.js'

interface FileShape {
  version: 1
  signing_key: SigningKeyPair | null
  nodes: NodeRecord[]
}

/** Options of fileStore. */
export interface FileStoreOptions {
  /** Delay before pending node changes are written. @default 1000 */
  debounceMs?: number
}

/** A DirectoryStore persisted to one JSON file (mode 0600: it holds heartbeat HMAC keys and the private key). */
export function fileStore(path: string, options: FileStoreOptions = {}): DirectoryStore {
  const debounceMs = options.debounceMs ?? 1000
  const nodes = new Map<string, NodeRecord>()
  let key: SigningKeyPair | null = null
  let loaded = false
  let timer: NodeJS.Timeout | undefined
  let writing: Promise<void> = Promise.resolve()
  let closed = false

  async function load(): Promise<void> {
    if (loaded) return
    loaded = true
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new IicpError('invalid_config', `Cannot read directory data file`, { cause: err })
    }
    let data: Partial<FileShape>
    try {
      data = JSON.parse(text) as Partial<FileShape>
    } catch (err) {
      throw new IicpError('invalid_config', 'Directory data file is not valid JSON', { cause: err })
    }
    if (data.version !== 1 || !Array.isArray(data.nodes)) throw new IicpError('invalid_config', 'Directory data file has an unknown format')
    key = data.signing_key ?? null
    for (const n of data.nodes) nodes.set(n.node_id, n)
  }

  function write(): Promise<void> {
    const body: FileShape = { version: 1, signing_key: key, nodes: [...nodes.values()] }
    const tmp = `${path}.${process.pid}.tmp`
    // Chain writes so two renames never race.
    writing = writing.then(async () => {
      await mkdir(dirname(path), { recursive: true })
      await writeFile(tmp, JSON.stringify(body), { mode: 0o600 })
      await rename(tmp, path)
    })
    return writing
  }

  function schedule(): void {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      // A failed background write is retried by the next change or by flush(); nothing to surface here.
      write().catch(() => {})
    }, debounceMs)
    timer.unref()
  }

  return {
    async loadNodes() {
      await load()
      return [...nodes.values()]
    },
    saveNode(record) {
      nodes.set(record.node_id, record)
      schedule()
    },
    deleteNode(nodeId) {
      if (nodes.delete(nodeId)) schedule()
    },
    async loadSigningKey() {
      await load()
      return key ?? undefined
    },
    async saveSigningKey(k) {
      await load()
      key = k
      await write()
    },
    async flush() {
      if (timer) {
        clearTimeout(timer)
        timer = undefined
      }
      await write()
    },
    async close() {
      if (closed) return
      if (timer) {
        clearTimeout(timer)
        timer = undefined
      }
      closed = true
      if (loaded) await write()
    },
  }
}
