/**
 * `IICP_*` environment variables → NodeOptions (official-sdks §4.5). Constructors never read
 * `process.env`; the CLI calls this and passes the result on.
 */
import { IicpError } from '@iicp/protocol'
import type { NodeOptions } from './options.js'
import type { RelayHostOptions } from './relay/relay-host.js'
import { tunnelOptionsFromEnv } from './tunnel/tunnel-rung.js'

function intVar(env: Readonly<Record<string, string | undefined>>, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  if (!/^\d+$/.test(raw.trim())) throw new IicpError('invalid_config', `environment variable ${name} must be a whole number (got ${JSON.stringify(raw.slice(0, 40))})`)
  return Number(raw.trim())
}

function boolVar(env: Readonly<Record<string, string | undefined>>, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new IicpError('invalid_config', `environment variable ${name} must be 1/0 or true/false`)
}

function strVar(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const raw = env[name]?.trim()
  return raw === undefined || raw === '' ? undefined : raw
}

/**
 * Read node options from an environment map: `IICP_DIRECTORY_URL`, `IICP_PORT`, `IICP_HOST`,
 * `IICP_PUBLIC_ENDPOINT`, `IICP_HOME`, `IICP_NODE_NAME`, `IICP_NODE_ID`, `IICP_REGION`,
 * `IICP_MAX_CONCURRENT`, `IICP_TOKENS_PER_MIN`, `IICP_MAX_BODY_BYTES`, `IICP_DRAIN_TIMEOUT_MS`,
 * `IICP_AUTH` (`open`|`token`), `IICP_CX` (1/0), `IICP_TASK_RATE_LIMIT` (per 60 s per Origin, 0 = off),
 * `IICP_IDEMPOTENCY` (1/0), `IICP_NATIVE` (0 turns native frames and `transport_endpoint` off), `IICP_AUTO_DETECT_NAT`
 * (1 → `reachability: 'auto'` with the tunnel rung from {@link tunnelOptionsFromEnv}; a tunnel URL or `IICP_TUNNEL=1`
 * also turns it on unless this is 0), `IICP_RELAY_WORKER_ENDPOINT` (pins a relay), `IICP_RELAY_CAPABLE` (1/0),
 * `IICP_RELAY_ACCEPT_PORT` (0/off: none), `KUBERNETES_SERVICE_HOST` (the NAT ladder's container check), and the
 * official SDKs' names (official-sdks §3.1, §4.5, §7): `IICP_DISABLE_NATIVE_TRANSPORT` (1: serve native frames but
 * advertise no `transport_endpoint`), `IICP_RELAY_REQUIRE_BIND_TICKET` (1/0 → `relayServer.allowUnsignedBinds` 0/1),
 * `IICP_RELAY_BIND_TICKET_PUBLIC_KEY` (64 hex → `relayServer.directoryKeyHex`), `IICP_RELAY_BIND_RATE_LIMIT` (new binds
 * per source per 60 s → `relayServer.bindRateLimit.max`), and `IICP_AUTO_UPDATE` / `IICP_AUTO_UPDATE_INTERVAL_S`, which
 * are checked and otherwise ignored (this SDK never updates itself). Unset variables are left out so defaults apply.
 */
export function nodeOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): NodeOptions {
  const out: NodeOptions = {}
  const directoryUrl = strVar(env, 'IICP_DIRECTORY_URL')
  if (directoryUrl !== undefined) out.directoryUrl = directoryUrl
  const port = intVar(env, 'IICP_PORT')
  if (port !== undefined) out.port = port
  const host = strVar(env, 'IICP_HOST')
  if (host !== undefined) out.host = host
  const publicEndpoint = strVar(env, 'IICP_PUBLIC_ENDPOINT')
  if (publicEndpoint !== undefined) out.publicEndpoint = publicEndpoint
  const home = strVar(env, 'IICP_HOME')
  if (home !== undefined) out.home = home
  const name = strVar(env, 'IICP_NODE_NAME')
  if (name !== undefined) out.name = name
  const nodeId = strVar(env, 'IICP_NODE_ID')
  if (nodeId !== undefined) out.nodeId = nodeId
  const region = strVar(env, 'IICP_REGION')
  if (region !== undefined) out.region = region
  const maxConcurrent = intVar(env, 'IICP_MAX_CONCURRENT')
  if (maxConcurrent !== undefined) out.maxConcurrent = maxConcurrent
  const tokensPerMin = intVar(env, 'IICP_TOKENS_PER_MIN')
  if (tokensPerMin !== undefined) out.tokensPerMin = tokensPerMin
  const maxBodyBytes = intVar(env, 'IICP_MAX_BODY_BYTES')
  if (maxBodyBytes !== undefined) out.maxBodyBytes = maxBodyBytes
  const drainTimeoutMs = intVar(env, 'IICP_DRAIN_TIMEOUT_MS')
  if (drainTimeoutMs !== undefined) out.drainTimeoutMs = drainTimeoutMs
  const auth = strVar(env, 'IICP_AUTH')
  if (auth !== undefined) {
    if (auth !== 'open' && auth !== 'token') throw new IicpError('invalid_config', "environment variable IICP_AUTH must be 'open' or 'token'")
    out.auth = auth
  }
  const cx = boolVar(env, 'IICP_CX')
  if (cx !== undefined) out.cx = cx
  // NAT and relays (sem §6.4; IICP-DIR §7): detection is opt-in here; `iicp node serve` turns it on by default.
  // A tunnel variable asks for the ladder too, unless IICP_AUTO_DETECT_NAT=0 says no; the tunnel rung is then its
  // step 3 (tried only when no direct route is verified), configured from the same environment.
  const autoDetect = boolVar(env, 'IICP_AUTO_DETECT_NAT')
  const tunnel = tunnelOptionsFromEnv(env)
  const wantsTunnel = tunnel.tunnelUrl !== undefined || tunnel.quickTunnel === true
  if (autoDetect === true || (autoDetect === undefined && wantsTunnel)) {
    out.reachability = 'auto'
    // The rung's guard files follow the node's own `home` (filled in at construction), even one set after this.
    delete tunnel.home
    out.tunnel = tunnel
  }
  const relayWorkerEndpoint = strVar(env, 'IICP_RELAY_WORKER_ENDPOINT')
  if (relayWorkerEndpoint !== undefined) out.relay = { endpoint: relayWorkerEndpoint }
  const relayCapable = boolVar(env, 'IICP_RELAY_CAPABLE')
  if (relayCapable !== undefined) out.relayCapable = relayCapable
  const acceptRaw = strVar(env, 'IICP_RELAY_ACCEPT_PORT')
  // 0 or off: no native accept port (an operator has no use for a random one that workers cannot guess).
  if (acceptRaw !== undefined) out.relayAcceptPort = ['0', 'off', 'false', 'no', 'none'].includes(acceptRaw.toLowerCase()) ? false : intVar(env, 'IICP_RELAY_ACCEPT_PORT')
  const k8s = strVar(env, 'KUBERNETES_SERVICE_HOST')
  if (k8s !== undefined) out.nat = { env: { KUBERNETES_SERVICE_HOST: k8s } }
  const taskRateLimit = intVar(env, 'IICP_TASK_RATE_LIMIT')
  if (taskRateLimit !== undefined) out.taskRateLimit = taskRateLimit
  const idempotency = boolVar(env, 'IICP_IDEMPOTENCY')
  if (idempotency !== undefined) out.enableIdempotency = idempotency
  // Native frames on the node's port (official-sdks.md §6.2): on unless IICP_NATIVE=0. The official
  // IICP_DISABLE_NATIVE_TRANSPORT=1 only stops advertising `transport_endpoint` (§4.5); frames are still understood.
  if (boolVar(env, 'IICP_DISABLE_NATIVE_TRANSPORT') === true) out.native = { advertise: false }
  if (boolVar(env, 'IICP_NATIVE') === false) out.native = false
  const relayServer = relayServerFromEnv(env)
  if (relayServer !== undefined) out.relayServer = relayServer
  // The official nodes update themselves hourly unless IICP_AUTO_UPDATE=0 (§7). This SDK never does, whatever the
  // value; a malformed value is still refused so a typo in a shared deployment file does not pass unnoticed.
  boolVar(env, 'IICP_AUTO_UPDATE')
  intVar(env, 'IICP_AUTO_UPDATE_INTERVAL_S')
  return out
}

/** The relay-hosting variables of the official SDKs (official-sdks §3.1, §4.5, §5.5), or undefined when none is set. */
function relayServerFromEnv(env: Readonly<Record<string, string | undefined>>): RelayHostOptions | undefined {
  const out: RelayHostOptions = {}
  // The official relays accept unsigned binds unless this is 1; this SDK refuses them unless it is 0.
  const required = boolVar(env, 'IICP_RELAY_REQUIRE_BIND_TICKET')
  if (required !== undefined) out.allowUnsignedBinds = !required
  const key = strVar(env, 'IICP_RELAY_BIND_TICKET_PUBLIC_KEY')
  if (key !== undefined) {
    // The value is not echoed: a key pasted into the wrong variable could be a private one.
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new IicpError('invalid_config', "environment variable IICP_RELAY_BIND_TICKET_PUBLIC_KEY must be the directory's Ed25519 public key as 64 hex characters")
    out.directoryKeyHex = key.toLowerCase()
  }
  const rate = strVar(env, 'IICP_RELAY_BIND_RATE_LIMIT')
  if (rate !== undefined) {
    const max = /^\d{1,7}$/.test(rate) ? Number(rate) : 0
    if (max < 1 || max > 1_000_000) throw new IicpError('invalid_config', 'environment variable IICP_RELAY_BIND_RATE_LIMIT must be a whole number of binds per 60 s per source, 1 to 1000000')
    out.bindRateLimit = { max, windowMs: 60_000 }
  }
  return Object.keys(out).length > 0 ? out : undefined
}
