/**
 * `iicp node status` and `iicp doctor` (issue 12, Provider): what a node advertises and how it stands,
 * from three sources read side by side: its state file under IICP_HOME (node id, directory, whether a
 * token is held, the running pid), the node's own `GET /iicp/health`, and the directory's
 * `GET /v1/node/{id}` (advertised endpoint, transport method, native `transport_endpoint`, relay accept port, tier,
 * route evidence, last heartbeat). The node is found
 * at --node, else on the CLI's loopback port band, else at the endpoint the directory lists for the state
 * file's node id when that endpoint is on loopback (a node started with `--port 0`). Every
 * finding that needs action comes with one concrete sentence of advice. `doctor` adds the checks that do
 * not need a running node: directory reachability, the listen port, the backend, the tunnel rung.
 * Tokens are never read into the output; only whether one is held.
 */
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'
import { access, constants } from 'node:fs/promises'
import { Agent, request } from 'undici'
import { classifyHost, directoryApiUrl } from '@iicp/protocol'
import { readTunnelGuard } from '@iicp/node'
import { EXIT_FAILURE, EXIT_OK } from '../exit.js'
import { NODE_BASE_PORT, PUBLIC_DIRECTORY_URL } from '../flags.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'

/** Flags of `iicp node status`. */
export interface NodeStatusFlags {
  node?: string
  directory?: string
  home?: string
  name?: string
  json?: boolean
}

/** Flags of `iicp doctor`. */
export interface DoctorFlags extends NodeStatusFlags {
  port?: number
  host?: string
  baseUrl?: string
  apiKey?: string
}

/** A directory's heartbeat expiry window (wire.md §1.3: no heartbeat for 90 s → dormant). */
const EXPIRY_S = 90
/** Ports a CLI-started node takes on this host (frm §11.1 band). */
const BAND = 7
const HTTP_TIMEOUT_MS = 3000

interface Fetched {
  status: number
  json: unknown
}

/** The node's state file, token reduced to "held or not". */
interface StateView {
  file: string
  exists: boolean
  node_id: string | null
  directory_url: string | null
  has_token: boolean
  running_pid: number | null
  problem?: string
}

/** What `iicp node status --json` prints. */
export interface NodeStatusReport {
  state: StateView
  node: Record<string, unknown> & { url: string | null; reachable: boolean }
  directory: Record<string, unknown> & { url: string; reachable: boolean; listed: boolean }
  tunnel: { cloudflared: string | null; cooldown_until: string | null; last_attempt_at: string | null; last_outcome: string | null }
  advice: string[]
}

type Check = { id: string; status: 'ok' | 'warn' | 'fail' | 'skip'; summary: string; advice?: string }

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString()
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}

class Http {
  private readonly agent = new Agent({ connect: { timeout: HTTP_TIMEOUT_MS }, keepAliveTimeout: 1000 })

  async get(url: string, headers: Record<string, string> = {}): Promise<Fetched | undefined> {
    try {
      const res = await request(url, {
        method: 'GET', dispatcher: this.agent, headers: { accept: 'application/json', ...headers },
        headersTimeout: HTTP_TIMEOUT_MS, bodyTimeout: HTTP_TIMEOUT_MS,
      })
      const text = await res.body.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: res.statusCode, json }
    } catch {
      // Refused, timed out or reset: the caller reports "unreachable" with advice.
      return undefined
    }
  }

  close(): Promise<void> {
    return this.agent.close()
  }
}

async function readState(home: string, name: string): Promise<StateView> {
  const file = join(home, 'nodes', `${name}.json`)
  const view: StateView = { file, exists: false, node_id: null, directory_url: null, has_token: false, running_pid: null }
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return view
  }
  view.exists = true
  try {
    const s = obj(JSON.parse(text))
    view.node_id = str(s.node_id)
    view.directory_url = str(s.directory_url)
    view.has_token = typeof s.node_token === 'string' && s.node_token !== ''
  } catch {
    view.problem = 'the state file is not valid JSON'
  }
  const pid = Number.parseInt(await readFile(`${file}.lock`, 'utf8').catch(() => ''), 10)
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0)
      view.running_pid = pid
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') view.running_pid = pid
    }
  }
  return view
}

async function findExecutable(name: string, pathVar: string | undefined): Promise<string | null> {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      await access(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // Not in this PATH entry.
    }
  }
  return null
}

/** Whether a URL points at this machine; only such endpoints are probed without being named on the command line. */
function onLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '')
    return host === 'localhost' || classifyHost(host) === 'loopback'
  } catch {
    return false
  }
}

/** First port of the band `iicp node serve` moves up through: IICP_PORT when it names one, else 9484. */
export function bandBase(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.IICP_PORT?.trim() ?? ''
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : 0
  return port >= 1 && port <= 65535 - BAND + 1 ? port : NODE_BASE_PORT
}

/**
 * Where to look for the node: the given URL alone; else the port band on 127.0.0.1 from `base`, then the
 * endpoint the directory lists for the state file's node when it is on loopback and outside the band.
 */
export function statusCandidates(given: string | undefined, listedEndpoint: string | null, base: number = NODE_BASE_PORT): string[] {
  if (given !== undefined) return [given.replace(/\/+$/, '')]
  const band = Array.from({ length: BAND }, (_, i) => `http://127.0.0.1:${base + i}`)
  const listed = listedEndpoint?.replace(/\/+$/, '')
  return listed !== undefined && onLoopback(listed) && !band.includes(listed) ? [...band, listed] : band
}

/** Find the node among the candidates, preferring the state file's node id. */
async function locateNode(http: Http, candidates: readonly string[], given: string | undefined, nodeId: string | null): Promise<{ url: string | null; health: Record<string, unknown> | undefined }> {
  const answers = await Promise.all(candidates.map(async (url) => ({ url, res: await http.get(`${url}/iicp/health`) })))
  const healthy = answers.filter((a) => a.res?.status === 200 && typeof obj(a.res.json).node_id === 'string')
  const pick = healthy.find((a) => obj(a.res?.json).node_id === nodeId) ?? healthy[0]
  if (pick === undefined) return { url: given ?? null, health: undefined }
  return { url: pick.url, health: obj(pick.res?.json) }
}

function tierOf(d: Record<string, unknown>): string | null {
  const explicit = str(d.reachability_tier)
  if (explicit !== null) return explicit
  switch (d.transport_method) {
    case 'direct': return 'direct'
    case 'upnp_mapped': return 'upnp'
    case 'stun_hole_punch': return 'hole_punch'
    case 'external_tunnel': return 'tunnel'
    case 'turn_relay': return 'relay'
    default: {
      const endpoint = str(d.endpoint)
      if (endpoint === null) return null
      try {
        const cls = classifyHost(new URL(endpoint).hostname)
        return cls === 'public' ? 'direct' : 'local'
      } catch {
        return null
      }
    }
  }
}

/** Gather the status report (the network is touched only at the node, the directory and loopback). */
export async function collectStatus(flags: NodeStatusFlags, env: Readonly<Record<string, string | undefined>>, now: () => number = Date.now): Promise<NodeStatusReport> {
  const home = flags.home ?? env.IICP_HOME ?? join(homedir(), '.iicp')
  const name = flags.name ?? env.IICP_NODE_NAME ?? 'default'
  const http = new Http()
  try {
    const state = await readState(home, name)
    const directoryUrl = (flags.directory ?? state.directory_url ?? env.IICP_DIRECTORY_URL ?? PUBLIC_DIRECTORY_URL).replace(/\/+$/, '')
    const listingOf = (id: string): Promise<Fetched | undefined> => http.get(directoryApiUrl(directoryUrl, `/v1/node/${encodeURIComponent(id)}`))
    // The directory's record of the state file's node also says where a node off the port band listens.
    const stateListing = state.node_id !== null ? await listingOf(state.node_id) : undefined
    const listedEndpoint = stateListing?.status === 200 ? str(obj(stateListing.json).endpoint) : null
    const base = bandBase(env)
    const candidates = statusCandidates(flags.node, listedEndpoint, base)
    const offBand = flags.node === undefined ? candidates[BAND] : undefined
    const { url, health } = await locateNode(http, candidates, flags.node, state.node_id)
    const nodeId = str(health?.node_id) ?? state.node_id
    const advice: string[] = []

    const node: NodeStatusReport['node'] = { url, reachable: health !== undefined }
    if (health !== undefined) {
      for (const k of ['node_id', 'status', 'registered', 'available', 'load', 'active_jobs', 'max_concurrent', 'models', 'intents', 'observed_source_ip', 'sdk_version']) {
        if (health[k] !== undefined) node[k] = health[k]
      }
    }

    const directory: NodeStatusReport['directory'] = { url: directoryUrl, reachable: false, listed: false }
    if (nodeId !== null) {
      const res = nodeId === state.node_id ? stateListing : await listingOf(nodeId)
      directory.reachable = res !== undefined && res.status < 500
      if (res?.status === 200) {
        const d = obj(res.json)
        directory.listed = true
        directory.endpoint = str(d.endpoint)
        directory.transport_method = str(d.transport_method)
        // The native `iicp://` route and, on a relay, the TCP port official-SDK workers bind to (official-sdks §5.1, §6.2).
        directory.transport_endpoint = str(d.transport_endpoint)
        directory.relay_capable = d.relay_capable === true
        directory.relay_accept_port = typeof d.relay_accept_port === 'number' ? d.relay_accept_port : null
        directory.exposure_mode = str(d.exposure_mode)
        directory.relay_endpoint = str(d.relay_endpoint)
        directory.tier = tierOf(d)
        // dir §3.4 has a string, nodelist.json an array (wire.md §9 item 22); take either.
        directory.route_evidence = Array.isArray(d.route_evidence) ? d.route_evidence.filter((e) => typeof e === 'string').join(', ') || null : str(d.route_evidence) ?? str(obj(d.health).evidence_level)
        directory.available = d.available === true
        directory.status = str(d.status)
        directory.reputation_score = typeof d.reputation_score === 'number' ? d.reputation_score : null
        const lastSeen = str(d.last_seen)
        directory.last_heartbeat_at = lastSeen
        const age = lastSeen === null ? undefined : Math.max(0, Math.round((now() - Date.parse(lastSeen)) / 1000))
        directory.last_heartbeat_age_s = age ?? null
        if (age !== undefined && age > EXPIRY_S) {
          advice.push(`The directory last heard from this node ${age} s ago (expiry is ${EXPIRY_S} s): make sure the node runs and can reach ${directoryUrl}.`)
        }
        const endpoint = str(d.endpoint)
        const dirHost = (() => { try { return classifyHost(new URL(directoryUrl).hostname) } catch { return 'reserved' } })()
        if (endpoint !== null && dirHost === 'public' && directory.tier === 'local') {
          advice.push('The node advertises a private address a public directory cannot route to: set --public-endpoint, set IICP_TUNNEL_URL to a tunnel you run, or put cloudflared on the PATH for a Quick Tunnel.')
        }
        if (directory.route_evidence === 'self_attested') advice.push('The directory could not verify this route itself; check that the advertised endpoint answers /iicp/health from outside.')
        if (d.available !== true && health?.available !== false) advice.push('The directory marks the node unavailable; the next heartbeat (every 30 s) should clear it, otherwise restart the node.')
      }
    }

    const tunnelState = await readTunnelGuard({ home }, now)
    const cloudflared = await findExecutable('cloudflared', env.PATH)
    const tunnel = {
      cloudflared,
      cooldown_until: tunnelState.cooldownUntilMs !== undefined && tunnelState.cooldownUntilMs > now() ? iso(tunnelState.cooldownUntilMs) : null,
      last_attempt_at: iso(tunnelState.lastAttemptAtMs),
      last_outcome: tunnelState.lastOutcome ?? null,
    }
    if (tunnel.cooldown_until !== null) advice.push(`Cloudflare rate-limited Quick Tunnels from this host; none is tried before ${tunnel.cooldown_until}. Set IICP_TUNNEL_URL to a tunnel of your own meanwhile.`)

    if (!state.exists) advice.unshift(`No node state at ${state.file}: start a node with \`iicp node serve\` (or pass --home/--name of the one you run).`)
    else if (state.problem !== undefined) advice.unshift(`${state.file}: ${state.problem}; move it aside and restart the node to write a fresh one.`)
    if (health === undefined) {
      advice.unshift(url === null
        ? `No node answers on 127.0.0.1:${base}-${base + BAND - 1}${offBand !== undefined ? ` or at ${offBand}, where the directory lists it` : ''}: start one with \`iicp node serve\`, or pass --node <url>.`
        : `No node answers at ${url}/iicp/health: check that it runs and listens there.`)
    } else if (state.node_id !== null && health.node_id !== state.node_id) {
      advice.unshift(`The node at ${url ?? '?'} is ${String(health.node_id)}, not ${state.node_id} from ${state.file}: pass the matching --home/--name or --node.`)
    }
    if (nodeId !== null && !directory.reachable) advice.push(`The directory at ${directoryUrl} did not answer: check the URL (--directory) and your network.`)
    else if (nodeId !== null && !directory.listed) advice.push(`The directory at ${directoryUrl} does not list ${nodeId}: the node re-registers by itself on its next heartbeat; if it stays missing, run \`iicp doctor\`.`)
    if (health?.status === 'degraded' && directory.listed !== true) advice.push('The node reports itself degraded (not registered): see its log for register_failed and the directory\'s answer.')

    return { state, node, directory, tunnel, advice }
  } finally {
    await http.close()
  }
}

function humanStatus(out: Output, r: NodeStatusReport): string {
  const c = out.c
  const d = r.directory
  const lines = [
    `${c.bold('node')}        ${r.node.reachable ? c.green('up') : c.red('not answering')}${r.node.url !== null ? ` at ${r.node.url}` : ''}${r.state.node_id !== null ? `  id ${r.state.node_id}` : ''}`,
  ]
  if (r.node.reachable) lines.push(`${c.bold('health')}      ${String(r.node.status)}, load ${String(r.node.load)}, models ${Array.isArray(r.node.models) ? r.node.models.join(', ') : '?'}`)
  lines.push(`${c.bold('directory')}   ${d.url} ${d.listed ? c.green('lists the node') : d.reachable ? c.yellow('does not list the node') : c.red('not reached')}`)
  if (d.listed) {
    // transport_method is how the route was found (direct, upnp_mapped, …); nodes on a plain endpoint often leave it out.
    lines.push(`${c.bold('advertises')}  ${String(d.endpoint)}${d.transport_method !== null ? ` (${String(d.transport_method)})` : ''}`)
    lines.push(`${c.bold('native')}      ${d.transport_endpoint !== null ? String(d.transport_endpoint) : 'none advertised (HTTP only)'}`)
    if (d.relay_capable === true || d.relay_accept_port !== null) {
      lines.push(`${c.bold('relay')}       accepts workers${d.relay_accept_port !== null ? ` on TCP port ${String(d.relay_accept_port)} and` : ''} over HTTP/WebSocket at ${String(d.endpoint)}`)
    }
    lines.push(`${c.bold('tier')}        ${String(d.tier)}   ${c.bold('evidence')} ${String(d.route_evidence)}`)
    lines.push(`${c.bold('heartbeat')}   ${String(d.last_heartbeat_at)} (${String(d.last_heartbeat_age_s)} s ago)`)
  }
  lines.push(`${c.bold('tunnel')}      cloudflared ${r.tunnel.cloudflared !== null ? 'on PATH' : 'not on PATH'}${r.tunnel.cooldown_until !== null ? `, cooldown until ${r.tunnel.cooldown_until}` : ''}`)
  if (r.advice.length > 0) lines.push('', c.bold('advice'), ...r.advice.map((a) => `  • ${a}`))
  return lines.join('\n')
}

/** Run `iicp node status`: exit 0 when the node answers and the directory lists it, else 1. */
export async function nodeStatus(ctx: RunContext<NodeStatusFlags>): Promise<number> {
  const out = new Output(ctx.io, ctx.flags.json === true)
  const report = await collectStatus(ctx.flags, ctx.io.env)
  out.result(report, () => humanStatus(out, report))
  return report.node.reachable && report.directory.listed ? EXIT_OK : EXIT_FAILURE
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/** Run `iicp doctor`: every check with a verdict and advice; exit 1 when any check fails. */
export async function doctor(ctx: RunContext<DoctorFlags>): Promise<number> {
  const { flags } = ctx
  const env = ctx.io.env
  const out = new Output(ctx.io, flags.json === true)
  const http = new Http()
  const checks: Check[] = []
  let status: NodeStatusReport | undefined
  try {
    status = await collectStatus(flags, env)
    const directoryUrl = status.directory.url
    const disc = await http.get(directoryApiUrl(directoryUrl, `/v1/discover?intent=${encodeURIComponent('urn:iicp:intent:llm:chat:v1')}&limit=1`))
    if (disc === undefined) {
      checks.push({ id: 'directory', status: 'fail', summary: `${directoryUrl} did not answer`, advice: 'Check --directory (IICP_DIRECTORY_URL), DNS and outbound HTTPS.' })
    } else if (disc.status === 200 && Array.isArray(obj(disc.json).nodes)) {
      checks.push({ id: 'directory', status: 'ok', summary: `${directoryUrl} answers discover` })
    } else {
      checks.push({ id: 'directory', status: 'fail', summary: `${directoryUrl} answered HTTP ${disc.status} without a node list`, advice: 'The URL is not an IICP directory API base; it usually ends in /api.' })
    }

    const port = flags.port ?? NODE_BASE_PORT
    const host = flags.host ?? '0.0.0.0'
    if (await portFree(host, port)) {
      checks.push({ id: 'port', status: 'ok', summary: `${host}:${port} is free for a node` })
    } else {
      const held = await http.get(`http://127.0.0.1:${port}/iicp/health`)
      const id = str(obj(held?.json).node_id)
      checks.push(id !== null
        ? { id: 'port', status: 'ok', summary: `${port} is served by IICP node ${id}`, advice: `A second node on this host takes the next free port (${port + 1}…).` }
        : { id: 'port', status: 'warn', summary: `${host}:${port} is taken by another program`, advice: `Free it or pass --port; \`iicp node serve\` moves up to ${port + BAND - 1} by itself.` })
    }

    if (flags.baseUrl === undefined) {
      checks.push({ id: 'backend', status: 'skip', summary: 'no --base-url given (the echo backend needs none)' })
    } else {
      const u = new URL(flags.baseUrl)
      const base = u.pathname === '/' || u.pathname === '' ? `${u.origin}/v1` : flags.baseUrl.replace(/\/+$/, '')
      const res = await http.get(`${base}/models`, flags.apiKey !== undefined ? { authorization: `Bearer ${flags.apiKey}` } : {})
      const models = Array.isArray(obj(res?.json).data) ? (obj(res?.json).data as unknown[]).map((m) => str(obj(m).id)).filter((m): m is string => m !== null) : undefined
      if (res === undefined) checks.push({ id: 'backend', status: 'fail', summary: `${base} did not answer`, advice: 'Start the model server (e.g. `ollama serve`) or fix --base-url.' })
      else if (res.status === 401 || res.status === 403) checks.push({ id: 'backend', status: 'fail', summary: `${base}/models refused the credentials (HTTP ${res.status})`, advice: 'Check --api-key (IICP_API_KEY).' })
      else if (models === undefined) checks.push({ id: 'backend', status: 'warn', summary: `${base}/models answered HTTP ${res.status} without a model list`, advice: 'Model drift cannot be followed; tasks may still work.' })
      else checks.push({ id: 'backend', status: models.length > 0 ? 'ok' : 'warn', summary: `${base} serves ${models.length} model(s)${models.length > 0 ? `: ${models.slice(0, 5).join(', ')}` : ''}`, ...(models.length === 0 ? { advice: 'Pull or load a model first.' } : {}) })
    }

    checks.push(status.tunnel.cooldown_until !== null
      ? { id: 'tunnel', status: 'warn', summary: `Quick Tunnels cool down until ${status.tunnel.cooldown_until}`, advice: 'Set IICP_TUNNEL_URL to a tunnel you run meanwhile.' }
      : status.tunnel.cloudflared !== null
        ? { id: 'tunnel', status: 'ok', summary: `cloudflared at ${status.tunnel.cloudflared}: a Quick Tunnel is available when no direct route is` }
        : { id: 'tunnel', status: 'skip', summary: 'cloudflared is not on the PATH (no Quick Tunnel rung)' })

    if (status.state.exists || status.node.reachable) {
      const bad = !status.node.reachable || !status.directory.listed
      checks.push({ id: 'node', status: bad ? 'fail' : status.advice.length > 0 ? 'warn' : 'ok', summary: bad ? 'the node is not serving and listed' : `node ${String(status.node.node_id)} is listed as ${String(status.directory.endpoint)}${typeof status.directory.transport_endpoint === 'string' ? ` and ${status.directory.transport_endpoint}` : ''}${typeof status.directory.relay_accept_port === 'number' ? `, relay accept port ${status.directory.relay_accept_port}` : ''}`, ...(status.advice[0] !== undefined ? { advice: status.advice[0] } : {}) })
    } else {
      checks.push({ id: 'node', status: 'skip', summary: 'no node state and no node running on this host' })
    }
  } finally {
    await http.close()
  }
  const ok = !checks.some((c) => c.status === 'fail')
  out.result({ ok, checks, status }, () => {
    const mark = { ok: out.c.green('✔'), warn: out.c.yellow('!'), fail: out.c.red('✖'), skip: out.c.dim('–') }
    return checks.map((c) => `${mark[c.status]} ${out.c.bold(c.id.padEnd(9))} ${c.summary}${c.advice !== undefined ? `\n  ${out.c.dim(c.advice)}` : ''}`).join('\n')
  })
  return ok ? EXIT_OK : EXIT_FAILURE
}
