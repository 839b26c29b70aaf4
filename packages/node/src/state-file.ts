/**
 * The node's persisted state under IICP_HOME (e050 credential-lifecycle fixture): node id, the last
 * token the directory accepted (and for which directory), and the IICP-CX private key. Written
 * atomically with mode 0600; only an accepted successor token is ever written.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Persisted node state. */
export interface NodeState {
  readonly node_id: string
  /** Last accepted token; absent before the first registration or after a deregistration. */
  readonly node_token?: string
  /** Directory the token belongs to. */
  readonly directory_url?: string
  /** X25519 private key, base64url (reference-implementations §5.4). */
  readonly cx_private_key?: string
}

/** Result of reading the state file. */
export type LoadedState = { readonly state: NodeState | undefined; readonly problem?: string }

/** Read the state file; a missing file is no state, an unreadable one is reported and ignored. */
export async function loadState(path: string): Promise<LoadedState> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: undefined }
    return { state: undefined, problem: `cannot read state file (${(err as NodeJS.ErrnoException).code ?? 'error'})` }
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { state: undefined, problem: 'state file is not valid JSON' }
  }
  if (typeof raw !== 'object' || raw === null || typeof (raw as { node_id?: unknown }).node_id !== 'string') {
    return { state: undefined, problem: 'state file has no node_id' }
  }
  const r = raw as Record<string, unknown>
  const state: { -readonly [K in keyof NodeState]: NodeState[K] } = { node_id: r.node_id as string }
  if (typeof r.node_token === 'string' && r.node_token.length > 0) state.node_token = r.node_token
  if (typeof r.directory_url === 'string') state.directory_url = r.directory_url
  if (typeof r.cx_private_key === 'string') state.cx_private_key = r.cx_private_key
  return { state }
}

/** Write the state file atomically (temp file + rename), readable by the owner only. */
export async function saveState(path: string, state: NodeState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 })
  await rename(tmp, path)
}
