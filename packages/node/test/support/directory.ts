/** Start the in-repo directory for node tests, and read what it holds over its own HTTP API. */
import { startDirectory } from '@iicp/directory'
import type { DirectoryOptions, RunningDirectory } from '@iicp/directory'
import { call } from './http.js'

export async function directory(opts: DirectoryOptions = {}): Promise<RunningDirectory> {
  return startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0, ...opts })
}

/** Node endpoints the directory would route chat tasks to. */
export async function discoveredEndpoints(dir: RunningDirectory, intent = 'urn:iicp:intent:llm:chat:v1'): Promise<string[]> {
  const res = await call(`${dir.apiUrl}/v1/discover?intent=${encodeURIComponent(intent)}&limit=50`)
  return ((res.json as { nodes?: Array<{ endpoint: string }> }).nodes ?? []).map((n) => n.endpoint).sort()
}

/** The directory's view of one node (404 → undefined). */
export async function nodeRecord(dir: RunningDirectory, nodeId: string): Promise<Record<string, unknown> | undefined> {
  const res = await call(`${dir.apiUrl}/v1/node/${encodeURIComponent(nodeId)}`)
  return res.status === 200 ? (res.json as Record<string, unknown>) : undefined
}
