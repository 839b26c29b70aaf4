/**
 * Tunnels someone else already runs (official-sdks §4.2 step 9): an operator-given URL
 * (`IICP_TUNNEL_URL`, `TUNNEL_URL`, `CLOUDFLARE_TUNNEL_URL`), the ngrok agent's local API (loopback
 * only, `GET /api/tunnels`), and a Tailscale Funnel (`tailscale funnel status --json` when `tailscale`
 * is on the PATH). Each yields a candidate URL; nothing is advertised before the dial-back confirms it.
 */
import { execFile } from 'node:child_process'
import { classifyHost } from '@iicp/protocol'
import { ControlPlaneHttp } from '../control-plane-http.js'
import { findOnPath } from './quick-tunnel.js'

/** Environment variables naming an operator's tunnel, in precedence order. */
export const TUNNEL_URL_ENV = ['IICP_TUNNEL_URL', 'TUNNEL_URL', 'CLOUDFLARE_TUNNEL_URL'] as const
/** The ngrok agent's local API. */
export const NGROK_API_URL = 'http://127.0.0.1:4040'

/**
 * A usable tunnel URL: https, or http on a loopback host (a local mesh or a test; such an endpoint is
 * only useful on the same machine and public directories refuse it). Returns the origin-and-path form
 * without a trailing slash, or undefined.
 */
export function tunnelUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === '' || !URL.canParse(raw.trim())) return undefined
  const u = new URL(raw.trim())
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') return undefined
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && classifyHost(host) === 'loopback')) return undefined
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '')
}

/** The operator's tunnel URL from the environment, if any valid one is set. */
export function operatorTunnelUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const name of TUNNEL_URL_ENV) {
    const url = tunnelUrl(env[name])
    if (url !== undefined) return url
  }
  return undefined
}

function portOf(addr: string): number | undefined {
  const m = /(?::|^)(\d{1,5})\/?$/.exec(addr.trim())
  return m === null ? undefined : Number(m[1])
}

/** Pick the ngrok tunnel that forwards to `port` (else the first https one) from `/api/tunnels`. */
export function pickNgrokTunnel(body: unknown, port: number): string | undefined {
  const tunnels = (body as { tunnels?: unknown } | null)?.tunnels
  if (!Array.isArray(tunnels)) return undefined
  const usable = tunnels.flatMap((t: unknown) => {
    const tt = t as { public_url?: unknown; config?: { addr?: unknown } } | null
    const url = typeof tt?.public_url === 'string' ? tunnelUrl(tt.public_url) : undefined
    if (url === undefined) return []
    const addr = typeof tt?.config?.addr === 'string' ? tt.config.addr : ''
    return [{ url, forwardsHere: portOf(addr) === port }]
  })
  return (usable.find((t) => t.forwardsHere) ?? usable[0])?.url
}

/** Ask the ngrok agent's API on loopback which tunnel reaches `port`. */
export async function detectNgrok(port: number, apiUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  const host = new URL(apiUrl).hostname.replace(/^\[|\]$/g, '')
  // The agent API is local by design; anything else would send our port to a stranger.
  if (classifyHost(host) !== 'loopback') return undefined
  const http = new ControlPlaneHttp(timeoutMs)
  try {
    const res = await http.send(`${apiUrl.replace(/\/+$/, '')}/api/tunnels`, 'GET', { accept: 'application/json' }, undefined, signal)
    if (res.statusCode !== 200) return undefined
    return pickNgrokTunnel(JSON.parse(res.text) as unknown, port)
  } catch {
    // No agent running (connection refused) is the common case, not an error.
    return undefined
  } finally {
    http.close()
  }
}

/**
 * Find the Funnel entry that proxies to `port` in `tailscale funnel status --json` output (a ServeConfig:
 * `Web["host:443"].Handlers["/"].Proxy` plus `AllowFunnel["host:443"] = true`).
 */
export function pickFunnel(status: unknown, port: number): string | undefined {
  const s = status as { Web?: Record<string, { Handlers?: Record<string, { Proxy?: unknown }> }>; AllowFunnel?: Record<string, unknown> } | null
  if (s?.Web === undefined || s.AllowFunnel === undefined) return undefined
  for (const [hostPort, web] of Object.entries(s.Web)) {
    if (s.AllowFunnel[hostPort] !== true) continue
    for (const [path, handler] of Object.entries(web.Handlers ?? {})) {
      if (typeof handler.Proxy !== 'string' || portOf(handler.Proxy) !== port) continue
      const [host, p] = hostPort.split(/:(?=\d+$)/)
      if (host === undefined) continue
      const suffix = p === undefined || p === '443' ? '' : `:${p}`
      return tunnelUrl(`https://${host}${suffix}${path === '/' ? '' : path}`)
    }
  }
  return undefined
}

/** Run `tailscale funnel status --json` when tailscale is on `env.PATH` (it runs with this process's environment). */
export async function detectTailscaleFunnel(port: number, env: Readonly<Record<string, string | undefined>>, timeoutMs: number): Promise<string | undefined> {
  const exe = await findOnPath('tailscale', env.PATH)
  if (exe === undefined) return undefined
  const out = await new Promise<string | undefined>((resolve) => {
    execFile(exe, ['funnel', 'status', '--json'], { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      resolve(err === null ? stdout : undefined)
    })
  })
  if (out === undefined) return undefined
  try {
    return pickFunnel(JSON.parse(out) as unknown, port)
  } catch {
    return undefined
  }
}
