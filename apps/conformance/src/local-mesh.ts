/**
 * The local mesh the SDK checks run against when no target is given: the in-repo directory (counting the
 * requests it receives, so a check can prove nothing was sent), one healthy IicpNode whose handler records
 * what it was given, fault-injecting nodes registered for scenario intents of the `x.conformance` vendor
 * space, and a token-mode IicpNode for the node checks. Everything listens on 127.0.0.1 with ephemeral ports;
 * close() leaves nothing behind.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { IicpError, isIicpError } from '@iicp/protocol'
import { createDirectory } from '@iicp/directory'
import type { Directory } from '@iicp/directory'
import { IicpNode } from '@iicp/node'
import type { InnerResult, TaskContext, TaskInput } from '@iicp/node'
import { startFaultNode } from './fault-node.js'
import { startRedirectingDirectory } from './redirecting-directory.js'
import type { RedirectingDirectory } from './redirecting-directory.js'
import type { FaultBehaviour, FaultNode } from './fault-node.js'

/** The chat intent (wire.md §3.3). */
export const CHAT_INTENT = 'urn:iicp:intent:llm:chat:v1'

/** Scenario intents: each routes to a known set of nodes (custom `x.` URNs, sem §1.2). */
export const SCENARIO_INTENTS = Object.freeze({
  /** A well-behaved fault-region node and the healthy node: the client's region preference decides the order. */
  select: 'urn:iicp:intent:x.conformance:select:v1',
  /** A 503 node (region `conformance-fault`) and the healthy node. */
  failover: 'urn:iicp:intent:x.conformance:failover:v1',
  /** A node that always answers 429 capacity_exceeded (region `conformance-fault`) and the healthy node. */
  capacity: 'urn:iicp:intent:x.conformance:capacity:v1',
  /** Registered by no node at all. */
  nobody: 'urn:iicp:intent:x.conformance:nobody:v1',
  /** Only a node that answers 429 + Retry-After once per task. */
  retryAfter: 'urn:iicp:intent:x.conformance:retryafter:v1',
  /** Only a 503 node. */
  exhaust: 'urn:iicp:intent:x.conformance:exhaust:v1',
  /** Only a node that quotes the caller's credential in its error message. */
  leak: 'urn:iicp:intent:x.conformance:leak:v1',
  /** Only a node that never answers. */
  hang: 'urn:iicp:intent:x.conformance:hang:v1',
  /** Only a node that resets the connection. */
  reset: 'urn:iicp:intent:x.conformance:reset:v1',
  /** Only a node that answers an HTML 500. */
  html: 'urn:iicp:intent:x.conformance:html:v1',
  /** Only the token-mode node the node checks run against (no SDK check discovers it). */
  nodeSuite: 'urn:iicp:intent:x.conformance:nodesuite:v1',
})

/** The region fault nodes register in; a client preferring it meets the fault node first. */
export const FAULT_REGION = 'conformance-fault'
/** The healthy node's region. */
export const MAIN_REGION = 'conformance-main'

/** What the healthy node's handler saw (no payloads are kept). */
export interface RecordedTask {
  readonly taskId: string
  readonly intent: string
  readonly traceparent: string | undefined
}

/** Requests the directory received, by `METHOD /path` (no query, no bodies). */
export interface DirectoryTraffic {
  count(method: string, path: string): number
  /** Total requests so far. */
  readonly total: number
}

/** A running local mesh. */
export interface LocalMesh {
  /** Directory origin (the spec's `/api/v1/...` paths go under it). */
  readonly origin: string
  /** `origin + '/api'`: the `directoryUrl` for clients and nodes. */
  readonly apiUrl: string
  /** The healthy node's URL and id. */
  readonly nodeUrl: string
  readonly nodeId: string
  /**
   * A node in token mode (`auth: 'token'`) and the token the directory issued it, read from its state file as an
   * operator would: the node checks run against it, so the wrong-token check (NODE-TASK-05) has something to test.
   */
  readonly tokenNode: { readonly url: string; readonly nodeId: string; readonly token: string }
  /** Tasks the healthy node ran, in order. */
  readonly tasks: readonly RecordedTask[]
  readonly traffic: DirectoryTraffic
  /** Fault nodes by behaviour. */
  readonly faults: Readonly<Partial<Record<FaultBehaviour, FaultNode>>>
  /** A replica-style front that 307s every request to the directory (fed §6.2). */
  readonly redirector: RedirectingDirectory
  /** A front that 307s every request to itself (a loop to give up on). */
  readonly redirectLoop: RedirectingDirectory
  /** Stop every node and the directory; idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

function chatCompletion(task: TaskInput, ctx: TaskContext): InnerResult {
  const messages = (task.payload as { messages?: Array<{ content?: unknown }> } | null)?.messages
  const last = Array.isArray(messages) ? messages[messages.length - 1]?.content : undefined
  return {
    id: `chatcmpl-${task.taskId}`, object: 'chat.completion', model: ctx.model ?? 'conformance-echo',
    choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${typeof last === 'string' ? last : ''}` }, finish_reason: 'stop' }],
  }
}

const FAULTS: ReadonlyArray<{ behaviour: FaultBehaviour; intents: string[] }> = [
  { behaviour: 'ok', intents: [SCENARIO_INTENTS.select] },
  { behaviour: 'unavailable', intents: [SCENARIO_INTENTS.failover, SCENARIO_INTENTS.exhaust] },
  { behaviour: 'rate-limited-once', intents: [SCENARIO_INTENTS.retryAfter] },
  { behaviour: 'capacity', intents: [SCENARIO_INTENTS.capacity] },
  { behaviour: 'token-echo', intents: [SCENARIO_INTENTS.leak] },
  { behaviour: 'hang', intents: [SCENARIO_INTENTS.hang] },
  { behaviour: 'reset', intents: [SCENARIO_INTENTS.reset] },
  { behaviour: 'html', intents: [SCENARIO_INTENTS.html] },
]

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return (server.address() as AddressInfo).port
}

/**
 * A token-mode node registered for the node-suite intent only, so no SDK check meets it. Its state lives in a
 * directory of its own, removed on close; the token is read back from the state file the node keeps.
 */
async function startTokenNode(apiUrl: string, cleanup: Array<() => Promise<void>>): Promise<LocalMesh['tokenNode']> {
  const home = await mkdtemp(join(tmpdir(), 'iicp-conformance-'))
  cleanup.push(() => rm(home, { recursive: true, force: true }))
  const name = 'conformance-token'
  const node = new IicpNode({
    directoryUrl: apiUrl,
    host: '127.0.0.1',
    port: 0,
    home,
    name,
    region: MAIN_REGION,
    auth: 'token',
    capabilities: [{ intent: SCENARIO_INTENTS.nodeSuite, models: ['conformance-echo'] }],
    handler: (task, ctx) => chatCompletion(task, ctx),
  })
  cleanup.push(() => node.close())
  await node.serve()
  if (!node.isRegistered || node.url === undefined) throw new IicpError('service_unavailable', 'local mesh: the token-mode node did not register')
  const state = JSON.parse(await readFile(join(home, 'nodes', `${name}.json`), 'utf8')) as { node_token?: unknown }
  if (typeof state.node_token !== 'string' || state.node_token.length === 0) {
    throw new IicpError('service_unavailable', 'local mesh: the token-mode node kept no token')
  }
  return { url: node.url, nodeId: node.nodeId, token: state.node_token }
}

/** Start the in-repo directory behind a request-counting server, the healthy node and the fault nodes. Fails with IicpError `service_unavailable`. */
export async function startLocalMesh(): Promise<LocalMesh> {
  const cleanup: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  }
  try {
    // Fault nodes never heartbeat, so the expiry window outlasts any run; pruning is off for the same reason.
    // The liveness probe is off because the spec's lifecycle profile registers a placeholder endpoint
    // (https://node.example.com) that no probe can reach; directories run that profile in this test mode.
    const directory: Directory = await createDirectory({ mode: 'local', pruneIntervalMs: 0, expiryMs: 3_600_000, skipLivenessCheck: true })
    cleanup.push(() => directory.close())
    const counts = new Map<string, number>()
    let total = 0
    const sockets = new Set<Socket>()
    const server = createServer((req, res) => {
      const key = `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0] ?? '/'}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
      total += 1
      directory.listener(req, res)
    })
    // Malformed HTTP gets the directory's JSON error, as from startDirectory, not node's bare 400.
    server.on('clientError', directory.clientErrorListener)
    server.on('connection', (s: Socket) => {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
    })
    const port = await listen(server)
    cleanup.push(() => new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    }))
    const origin = `http://127.0.0.1:${port}`
    const apiUrl = `${origin}/api`
    const redirector = await startRedirectingDirectory(origin)
    cleanup.push(() => redirector.close())
    const redirectLoop = await startRedirectingDirectory('self')
    cleanup.push(() => redirectLoop.close())

    const agent = new Agent()
    cleanup.push(() => agent.close())
    const faults: Partial<Record<FaultBehaviour, FaultNode>> = {}
    for (const f of FAULTS) {
      const node = await startFaultNode({ behaviour: f.behaviour, intents: f.intents, region: FAULT_REGION })
      cleanup.push(() => node.close())
      const res = await request(`${apiUrl}/v1/register`, {
        method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(node.registrationBody()),
      })
      await res.body.dump()
      if (res.statusCode !== 201) throw new IicpError('service_unavailable', `local mesh: the directory refused the ${f.behaviour} fault node (HTTP ${res.statusCode})`)
      faults[f.behaviour] = node
    }

    const tasks: RecordedTask[] = []
    const healthy = new IicpNode({
      directoryUrl: apiUrl,
      host: '127.0.0.1',
      port: 0,
      persistState: false,
      region: MAIN_REGION,
      maxConcurrent: 16,
      capabilities: [
        { intent: CHAT_INTENT, models: ['conformance-echo'] },
        { intent: SCENARIO_INTENTS.failover, models: ['conformance-echo'] },
        { intent: SCENARIO_INTENTS.select, models: ['conformance-echo'] },
        { intent: SCENARIO_INTENTS.capacity, models: ['conformance-echo'] },
      ],
      handler: (task, ctx) => {
        if (tasks.length < 10_000) tasks.push({ taskId: task.taskId, intent: task.intent, traceparent: ctx.traceparent })
        return chatCompletion(task, ctx)
      },
    })
    cleanup.push(() => healthy.close())
    await healthy.serve()
    if (!healthy.isRegistered || healthy.url === undefined) throw new IicpError('service_unavailable', 'local mesh: the healthy node did not register')
    const tokenNode = await startTokenNode(apiUrl, cleanup)

    let closing: Promise<void> | undefined
    const close = (): Promise<void> => (closing ??= closeAll())
    return {
      origin,
      apiUrl,
      nodeUrl: healthy.url,
      nodeId: healthy.nodeId,
      tokenNode,
      tasks,
      traffic: {
        count: (method, path) => counts.get(`${method} ${path}`) ?? 0,
        get total() {
          return total
        },
      },
      faults,
      redirector,
      redirectLoop,
      close,
      [Symbol.asyncDispose]: close,
    }
  } catch (err) {
    await closeAll()
    throw isIicpError(err) ? err : new IicpError('service_unavailable', 'local mesh: could not start', { cause: err })
  }
}
