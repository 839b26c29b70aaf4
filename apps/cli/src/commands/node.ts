/**
 * `iicp node serve`: a provider node (IICP-core §2–§4) with an echo or OpenAI-compatible backend, registered
 * with a directory and heartbeating until Ctrl-C, when it drains, deregisters and closes.
 */
import { IicpNode, nodeOptionsFromEnv, tunnelOptionsFromEnv, tunnelRung } from '@iicp/node'
import type { NodeOptions, TunnelDeadEvent, TunnelRung } from '@iicp/node'
import { isLoopbackDirectory } from '../consumer.js'
import { EXIT_OK, EXIT_TUNNEL_DEAD } from '../exit.js'
import { buildBackend } from '../node-backends.js'
import { natServeOptions, reportReachability } from './nat.js'
import type { BackendKind } from '../node-backends.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'

/** Flags of `iicp node serve`. */
export interface NodeServeFlags {
  directory: string
  port?: number
  host: string
  publicEndpoint?: string
  region?: string
  backend: BackendKind
  baseUrl?: string
  model?: string
  apiKey?: string
  maxConcurrent?: number
  name?: string
  home?: string
  tunnel?: boolean
  json?: boolean
}

/** The NodeOptions the flags describe (the backend is built separately). */
export function nodeOptions(flags: NodeServeFlags): Omit<NodeOptions, 'backend'> {
  const o: Omit<NodeOptions, 'backend'> = { directoryUrl: flags.directory, host: flags.host }
  if (flags.port !== undefined) o.port = flags.port
  if (flags.publicEndpoint !== undefined) o.publicEndpoint = flags.publicEndpoint
  if (flags.region !== undefined) o.region = flags.region
  if (flags.maxConcurrent !== undefined) o.maxConcurrent = flags.maxConcurrent
  if (flags.name !== undefined) o.name = flags.name
  if (flags.home !== undefined) o.home = flags.home
  return o
}

/**
 * Every option `nodeOptionsFromEnv` reads (IICP_NODE_ID, IICP_AUTH, IICP_CX, IICP_NATIVE, IICP_TOKENS_PER_MIN,
 * IICP_MAX_BODY_BYTES, IICP_DRAIN_TIMEOUT_MS, IICP_RELAY_ACCEPT_PORT, IICP_TASK_RATE_LIMIT, IICP_IDEMPOTENCY …)
 * except the tunnel, which `node serve` wires itself (as a rung of its own with --tunnel).
 */
export function nodeEnvOptions(env: Readonly<Record<string, string | undefined>>): Omit<NodeOptions, 'backend' | 'tunnel'> {
  const options: NodeOptions = { ...nodeOptionsFromEnv(env) }
  delete options.tunnel
  delete options.backend
  return options
}

/**
 * What a dead Quick Tunnel means for `node serve` (IICP_TUNNEL_DEAD_POLICY): the library only reports it; under
 * `exit` the returned promise resolves so the command shuts down and exits 75, under `log-only` it never does.
 */
export function tunnelDeath(report: (e: TunnelDeadEvent) => void): { onDead: (e: TunnelDeadEvent) => void; exit: Promise<TunnelDeadEvent> } {
  let resolve!: (e: TunnelDeadEvent) => void
  const exit = new Promise<TunnelDeadEvent>((r) => { resolve = r })
  return {
    onDead(e) {
      report(e)
      if (e.policy === 'exit') resolve(e)
    },
    exit,
  }
}

/** Run `iicp node serve`. */
export async function nodeServe(ctx: RunContext<NodeServeFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const backend = buildBackend(flags.backend, flags, ctx.usage)
  // Listen for Ctrl-C from the start: a signal during startup then shuts down cleanly once up.
  const stopped = ctx.untilStopped()
  // Everything the node package reads from the environment applies, under the NAT defaults and the flags.
  // --tunnel or a tunnel URL (IICP_TUNNEL_URL …) puts the tunnel rung in place of NAT detection, as the official
  // --tunnel does; otherwise the rung sits inside the 'auto' ladder, tried only when no direct route is verified.
  const fromEnv = nodeEnvOptions(ctx.io.env)
  const death = tunnelDeath((e) => out.event(
    { event: 'tunnel_dead', policy: e.policy, failed_rebuilds: e.failedRebuilds },
    `${out.ce.red('✖')} the Quick Tunnel is dead after ${e.failedRebuilds} failed rebuild(s)${e.policy === 'exit' ? `: stopping (exit ${EXIT_TUNNEL_DEAD}) so a supervisor restarts the node` : '; serving on without it (IICP_TUNNEL_DEAD_POLICY=log-only)'}`,
  ))
  const tunnelOpts = { ...tunnelOptionsFromEnv(ctx.io.env), ...(flags.home !== undefined ? { home: flags.home } : {}), onDead: death.onDead }
  const rung: TunnelRung | undefined = flags.tunnel === true || tunnelOpts.tunnelUrl !== undefined ? tunnelRung(tunnelOpts) : undefined
  const nat = natServeOptions(ctx.io.env)
  const node = new IicpNode({
    ...fromEnv,
    ...nat,
    ...(rung === undefined && nat.reachability === 'auto' ? { tunnel: tunnelOpts } : {}),
    ...nodeOptions(flags),
    ...(rung !== undefined ? { reachability: rung.resolve } : {}),
    backend,
  })
  // Subscribed before serve() so lines come in the order things happen: listening, registered, then ready.
  node.on('listening', (e) => out.event(
    { event: 'listening', url: e.url, host: e.host, port: e.port, backend: flags.backend },
    `${out.ce.green('●')} listening at ${e.url}`,
  ))
  node.on('registered', (e) => out.event(
    { event: 'registered', node_id: e.nodeId, endpoint: e.endpoint, observed_source_ip: e.observedSourceIp ?? null },
    `${out.ce.green('✔')} registered with ${flags.directory} as ${e.nodeId} (${e.endpoint})`,
  ))
  reportReachability(node, out)
  node.on('reregistered', (e) => out.event({ event: 'reregistered', node_id: e.nodeId }, `${out.ce.yellow('↻')} re-registered as ${e.nodeId}`))
  node.on('degraded', (e) => out.event(
    { event: 'degraded', reason: e.reason, code: e.code, retry_in_ms: e.retryInMs ?? null },
    `${out.ce.yellow('!')} ${e.reason} (${e.code})${e.retryInMs !== undefined ? `, retrying in ${Math.round(e.retryInMs / 1000)} s` : ''}`,
  ))
  if (flags.publicEndpoint === undefined && !isLoopbackDirectory(flags.directory)) {
    out.note(out.ce.dim('tip: a public directory only lists routable endpoints; pass --public-endpoint <url> (IICP_PUBLIC_ENDPOINT)'))
  }
  let code = EXIT_OK
  try {
    await node.serve()
    rung?.attach(node)
    out.event(
      { event: 'ready', url: node.url ?? null, endpoint: node.endpoint ?? null, backend: flags.backend },
      `${out.ce.green('●')} node serving ${flags.backend} at ${node.url ?? '?'} (advertised ${node.endpoint ?? '?'}); Ctrl-C stops it`,
    )
    const ended = await Promise.race([stopped, death.exit])
    out.note(out.ce.dim(`${typeof ended === 'string' ? ended : 'tunnel dead'}: draining and deregistering…`))
    if (typeof ended !== 'string') code = EXIT_TUNNEL_DEAD
  } finally {
    await node.close()
    await rung?.close()
  }
  out.event({ event: 'closed' }, `${out.ce.green('✔')} node closed`)
  return code
}
