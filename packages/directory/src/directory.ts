/**
 * The embedded IICP directory (IICP-DIR; wire.md §1): `createDirectory` builds the state and a node:http
 * request listener (mount it anywhere), `startDirectory` also listens and returns its URLs.
 */
import { createServer } from 'node:http'
import type { RequestListener, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { generateSigningKeyPair, IicpError } from '@iicp/protocol'
import type { SigningKeyPair } from '@iicp/protocol'
import type { DirectoryContext } from './context.js'
import { RateLimiter } from './http/rate-limit.js'
import type { Route } from './http/route-table.js'
import { answerClientError, createRequestListener } from './http/server.js'
import { EndpointProber } from './liveness.js'
import { NodeTable } from './node-table.js'
import type { LiveNode } from './node-table.js'
import { parseDirectoryOptions } from './options.js'
import type { DirectoryOptions, ResolvedDirectoryOptions } from './options.js'
import { consumerToken } from './routes/consumer-token.js'
import { bootstrap, discover } from './routes/discover.js'
import { credits, probe, telemetry } from './routes/extensions.js'
import { heartbeat } from './routes/heartbeat.js'
import { health, me, nodeById, stats } from './routes/info.js'
import { deregister, register } from './routes/register.js'
import { registryIntents, registryNode, registryNodes, registryStats } from './routes/registry.js'
import { directoryKey, dispatchTicket, relayTicket } from './routes/tickets.js'
import { didDocument, intentRegistry, replicaRegistry } from './routes/well-known.js'
import { fileStore } from './store/file-store.js'
import { ephemeralStore } from './store/memory-store.js'
import type { DirectoryStore, NodeRecord } from './store/types.js'

/** Result of one prune pass. */
export interface PruneResult {
  /** Nodes that went dormant (no heartbeat within the expiry window) in this pass. */
  readonly expired: number
  /** Dormant nodes deleted after the retention period. */
  readonly deleted: number
}

/** A directory without its own listener: mount `listener` on any node:http server. */
export interface Directory {
  /** node:http request listener serving every route. */
  readonly listener: RequestListener
  /**
   * node:http `clientError` listener answering malformed HTTP with a JSON error (`server.on('clientError',
   * directory.clientErrorListener)`); `startDirectory` attaches it itself.
   */
  readonly clientErrorListener: (err: NodeJS.ErrnoException, socket: Duplex) => void
  /** 64-hex Ed25519 public key served at /api/v1/directory-key. */
  readonly publicKeyHex: string
  readonly options: ResolvedDirectoryOptions
  /** Registered nodes (live and dormant). */
  readonly nodeCount: number
  /** Nodes discover may currently return. */
  readonly activeNodeCount: number
  /**
   * Mark expired nodes dormant, delete long-dormant ones and re-rank nodes whose availability window
   * opened or closed, by the injected clock (core §4.2; sem §4). Runs every `pruneIntervalMs`.
   */
  prune(): PruneResult
  /**
   * Insert ready-made records without HTTP (benchmarks, fixtures); bypasses validation and probes.
   * @internal prefer seedNodes()
   */
  insertRecords(records: readonly NodeRecord[]): void
  /** Stop the prune timer, close probes and flush the store; idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** A listening directory. */
export interface RunningDirectory {
  /** Origin, e.g. `http://127.0.0.1:9480`. */
  readonly url: string
  /** `url + '/api'`: what SDK clients and nodes take as `directoryUrl`. */
  readonly apiUrl: string
  readonly port: number
  readonly publicKeyHex: string
  readonly directory: Directory
  /** Stop listening, drop keep-alive sockets, then close the directory; idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

function routes(dir: DirectoryContext): Route[] {
  const api = '/api/v1'
  return [
    { method: 'POST', path: `${api}/register`, handler: (c) => register(dir, c) },
    { method: 'DELETE', path: `${api}/register`, handler: (c) => deregister(dir, c) },
    { method: 'POST', path: `${api}/deregister`, handler: (c) => deregister(dir, c) },
    { method: 'POST', path: `${api}/heartbeat`, handler: (c) => heartbeat(dir, c) },
    { method: 'GET', path: `${api}/discover`, handler: (c) => discover(dir, c) },
    { method: 'POST', path: `${api}/dispatch/ticket`, handler: (c) => dispatchTicket(dir, c) },
    { method: 'POST', path: `${api}/relay/ticket`, handler: (c) => relayTicket(dir, c) },
    { method: 'GET', path: `${api}/directory-key`, handler: (ctx) => directoryKey(dir, ctx) },
    { method: 'POST', path: `${api}/consumer-token`, handler: (c) => consumerToken(dir, c) },
    { method: 'GET', path: `${api}/node/`, prefix: true, handler: (c) => nodeById(dir, c) },
    { method: 'GET', path: `${api}/me`, handler: (c) => me(dir, c) },
    { method: 'GET', path: `${api}/bootstrap`, handler: (c) => bootstrap(dir, c) },
    { method: 'GET', path: `${api}/stats`, handler: () => stats(dir) },
    { method: 'GET', path: `${api}/registry/nodes`, handler: (c) => registryNodes(dir, c) },
    { method: 'GET', path: `${api}/registry/nodes/`, prefix: true, handler: (c) => registryNode(dir, c) },
    { method: 'GET', path: `${api}/registry/intents`, handler: () => registryIntents(dir) },
    { method: 'GET', path: `${api}/registry/stats`, handler: () => registryStats(dir) },
    { method: 'GET', path: `${api}/probe`, handler: (c) => probe(dir, c) },
    { method: 'POST', path: `${api}/telemetry`, handler: (c) => telemetry(dir, c) },
    { method: 'GET', path: `${api}/credits/balance`, handler: (c) => credits(dir, c) },
    { method: 'GET', path: `${api}/credits/transactions`, handler: (c) => credits(dir, c) },
    { method: 'GET', path: `${api}/credits/summary`, handler: (c) => credits(dir, c) },
    { method: 'GET', path: `${api}/credits/quote`, handler: (c) => credits(dir, c) },
    { method: 'POST', path: `${api}/credits/award`, handler: (c) => credits(dir, c) },
    { method: 'GET', path: '/iicp/health', handler: () => health() },
    { method: 'GET', path: '/iicp/ready', handler: () => health() },
    { method: 'GET', path: '/.well-known/iicp-intents.json', handler: () => intentRegistry() },
    { method: 'GET', path: '/.well-known/did.json', handler: (c) => didDocument(dir, c) },
    { method: 'GET', path: '/.well-known/iicp-replicas.json', handler: () => replicaRegistry() },
  ]
}

async function signingKey(opts: ResolvedDirectoryOptions, store: DirectoryStore): Promise<SigningKeyPair> {
  if (opts.signingKey) {
    await store.saveSigningKey(opts.signingKey)
    return opts.signingKey
  }
  const stored = await store.loadSigningKey()
  if (stored) return stored
  const fresh = await generateSigningKeyPair()
  await store.saveSigningKey(fresh)
  return fresh
}

/** Build a directory (state, store, key, request listener) without listening. */
export async function createDirectory(options: DirectoryOptions = {}): Promise<Directory> {
  const opts = parseDirectoryOptions(options)
  const store = opts.store ?? (opts.dataFile ? fileStore(opts.dataFile, { debounceMs: opts.persistDebounceMs }) : ephemeralStore())
  const key = await signingKey(opts, store)
  const table = new NodeTable(opts.expiryMs, opts.probation)
  const startedAt = opts.clock()
  for (const rec of await store.loadNodes()) table.put(rec, startedAt)
  const prober = new EndpointProber(opts.probeHosts, opts.livenessTimeoutMs)
  const limits = {
    register: new RateLimiter(opts.rateLimits.register),
    probe: new RateLimiter(opts.rateLimits.probe),
    directoryKey: new RateLimiter(opts.rateLimits.directoryKey),
  }
  const log = opts.logger.child({ component: 'iicp-directory' })
  const ctx: DirectoryContext = {
    opts, table, store, key, prober, limits, log, startedAt,
    save: (node: LiveNode) => store.saveNode(node.rec),
  }
  const listener = createRequestListener(routes(ctx), {
    maxBodyBytes: opts.maxBodyBytes, trustProxy: opts.trustProxy, publicOrigin: opts.publicOrigin, logger: log,
  })

  function prune(): PruneResult {
    const now = opts.clock()
    const before = table.activeCount
    const stale = table.prune(now, opts.dormantRetentionMs)
    table.refreshWindows(now)
    for (const id of stale) {
      table.remove(id)
      store.deleteNode(id)
      log.info({ node_id: id, reason: 'expired' }, 'node deleted')
    }
    limits.register.sweep(now)
    limits.probe.sweep(now)
    limits.directoryKey.sweep(now)
    return { expired: before - table.activeCount, deleted: stale.length }
  }

  let timer: NodeJS.Timeout | undefined
  if (opts.pruneIntervalMs > 0) {
    timer = setInterval(prune, opts.pruneIntervalMs)
    timer.unref()
  }
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (timer) clearInterval(timer)
      await prober.close()
      await store.close()
    })()
    return closing
  }
  return {
    listener,
    clientErrorListener: answerClientError,
    publicKeyHex: key.publicKeyHex,
    options: opts,
    get nodeCount() {
      return table.size
    },
    get activeNodeCount() {
      return table.activeCount
    },
    prune,
    insertRecords(records) {
      const now = opts.clock()
      for (const rec of records) {
        table.put(rec, now)
        store.saveNode(rec)
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new IicpError('invalid_config', `Directory cannot listen on ${host}:${port} (${err.code ?? 'error'})`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/** Start a directory on `host:port` (default 127.0.0.1:9480; port 0 = ephemeral). */
export async function startDirectory(options: DirectoryOptions = {}): Promise<RunningDirectory> {
  const directory = await createDirectory(options)
  const server = createServer({ keepAliveTimeout: 5_000 }, directory.listener)
  server.on('clientError', directory.clientErrorListener)
  try {
    await listen(server, directory.options.port, directory.options.host)
  } catch (err) {
    await directory.close()
    throw err
  }
  const port = (server.address() as AddressInfo).port
  const host = directory.options.host.includes(':') ? `[${directory.options.host}]` : directory.options.host
  const url = `http://${host}:${port}`
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      await directory.close()
    })()
    return closing
  }
  return {
    url,
    apiUrl: `${url}/api`,
    port,
    publicKeyHex: directory.publicKeyHex,
    directory,
    close,
    [Symbol.asyncDispose]: close,
  }
}
