/**
 * The node's persisted state under IICP_HOME (e050 credential-lifecycle fixture): node id, the last
 * token the directory accepted (and for which directory), and the IICP-CX private key. Written
 * atomically with mode 0600; only an accepted successor token is ever written.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
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

/** State files held by nodes in this process (a pid check cannot tell two of them apart). */
const heldHere = new Set<string>()

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM means the process exists but belongs to someone else: still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Take the single-instance lock `<state file>.lock` (official-sdks §3.6): two processes sharing one node
 * identity would rotate each other's tokens away. Returns the holder's pid when another live node holds it;
 * a lock left by a dead process is taken over.
 */
export async function lockState(path: string): Promise<{ ok: true; release: () => Promise<void> } | { ok: false; holder: number }> {
  const lock = `${path}.lock`
  if (heldHere.has(path)) return { ok: false, holder: process.pid }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx', mode: 0o600 })
      heldHere.add(path)
      return {
        ok: true,
        release: async () => {
          heldHere.delete(path)
          await rm(lock, { force: true })
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10)
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) return { ok: false, holder }
      // Stale (dead holder, or this process from an instance that never released): take it over.
      await rm(lock, { force: true })
    }
  }
  return { ok: false, holder: 0 }
}
