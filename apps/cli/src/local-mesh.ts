/**
 * The local mesh behind `iicp mesh` (issue 6): an embedded directory in local mode and one node per backend,
 * all on 127.0.0.1, started in that order (nodes listen before they register, as the directory probes them)
 * and closed in reverse (nodes drain and deregister while the directory is still up).
 */
import { once } from 'node:events'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import type { Backend, DegradedReason } from '@iicp/node'
import { IicpError, isIicpError } from '@iicp/protocol'

/** Options of {@link startLocalMesh}. */
export interface LocalMeshOptions {
  /** One node per backend. @default two echo nodes */
  backends?: readonly Backend[]
  /** Directory port; 0 = any free port. @default 0 */
  directoryPort?: number
  /** When `directoryPort` is taken, take any free port instead of failing. @default true */
  fallbackToAnyPort?: boolean
  /** First node port; nodes move up the 9484–9490 band, then take any free port; 0 = any free port. @default 9484 */
  nodeBasePort?: number
  /** Let the directory list registrations without probing their /iicp/health (IICP_SKIP_LIVENESS_CHECK). @default false */
  skipLivenessCheck?: boolean
  /** How long each node may take to register. @default 10000 */
  registerTimeoutMs?: number
  /** Called when a node reports trouble (directory unreachable, heartbeat failed …). */
  onDegraded?: (nodeIndex: number, reason: DegradedReason, code: string) => void
}

/** A running local mesh. */
export interface LocalMesh {
  readonly directory: RunningDirectory
  /** The directory API base consumers use (`http://127.0.0.1:<port>/api`). */
  readonly directoryUrl: string
  readonly nodes: readonly IicpNode[]
  /** Close nodes (drain, deregister), then the directory. Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const HOST = '127.0.0.1'

function portTaken(err: unknown): boolean {
  if (!isIicpError(err) || err.code !== 'invalid_config') return false
  const cause = (err as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined
  return cause?.code === 'EADDRINUSE' || /EADDRINUSE/.test(err.message)
}

async function listenDirectory(port: number, fallback: boolean, skipLivenessCheck: boolean): Promise<RunningDirectory> {
  try {
    return await startDirectory({ port, host: HOST, mode: 'local', skipLivenessCheck })
  } catch (err) {
    if (port === 0 || !fallback || !portTaken(err)) throw err
    return startDirectory({ port: 0, host: HOST, mode: 'local', skipLivenessCheck })
  }
}

async function registered(node: IicpNode, timeoutMs: number): Promise<void> {
  if (node.isRegistered) return
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    await once(node, 'registered', { signal })
  } catch {
    throw new IicpError('service_unavailable', `node ${node.nodeId} did not register with the local directory within ${timeoutMs} ms`)
  }
}

async function startNode(directoryUrl: string, backend: Backend, basePort: number, index: number, opts: LocalMeshOptions): Promise<IicpNode> {
  const common = {
    directoryUrl, backend, host: HOST, region: 'local', persistState: false, drainTimeoutMs: 2000, name: `mesh-${index}`,
  }
  let node = new IicpNode(basePort === 0 ? { ...common, port: 0 } : { ...common, basePort })
  const watch = (n: IicpNode): void => {
    n.on('degraded', (d) => opts.onDegraded?.(index, d.reason, d.code))
  }
  watch(node)
  try {
    await node.serve()
  } catch (err) {
    await node.close()
    if (basePort === 0 || !portTaken(err)) throw err
    // The whole band is in use (other nodes on this machine): any free port serves a local mesh as well.
    node = new IicpNode({ ...common, port: 0 })
    watch(node)
    await node.serve()
  }
  return node
}

/** Start a directory and its nodes on 127.0.0.1 and wait until every node is registered. */
export async function startLocalMesh(options: LocalMeshOptions = {}): Promise<LocalMesh> {
  const backends = options.backends ?? [echo(), echo()]
  const directory = await listenDirectory(options.directoryPort ?? 0, options.fallbackToAnyPort ?? true, options.skipLivenessCheck ?? false)
  const nodes: IicpNode[] = []
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.allSettled(nodes.map((n) => n.close()))
      await directory.close()
    })()
    return closing
  }
  try {
    for (const [i, backend] of backends.entries()) {
      const node = await startNode(directory.apiUrl, backend, options.nodeBasePort ?? 9484, i, options)
      nodes.push(node)
      await registered(node, options.registerTimeoutMs ?? 10_000)
    }
  } catch (err) {
    await close()
    throw err
  }
  return { directory, directoryUrl: directory.apiUrl, nodes, close, [Symbol.asyncDispose]: close }
}
