/**
 * A Quick Tunnel through a `cloudflared` executable found on the PATH (official-sdks §4.4):
 * `cloudflared tunnel --no-autoupdate --url http://127.0.0.1:<port>`, waiting up to 20 s for the
 * `*.trycloudflare.com` URL it logs. A 429 or Cloudflare error 1015 in its output marks the attempt
 * rate limited, so the guard starts the cooldown. The process is ours: close() ends it and waits.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { delimiter, isAbsolute, join } from 'node:path'
import { IicpError } from '@iicp/protocol'
import type { Timers } from '../timers.js'

/** The URL cloudflared prints for an accountless tunnel. */
export const TRYCLOUDFLARE_URL = /https:\/\/[a-z0-9][a-z0-9-]{0,62}\.trycloudflare\.com\b/
const RATE_LIMITED = /\b429\b|Too Many Requests|error code:? ?1015|\b1015\b/i
/** How long cloudflared gets to print its URL. */
export const QUICK_TUNNEL_START_TIMEOUT_MS = 20_000

/** Find an executable by name on a PATH string (no shell involved). */
export async function findOnPath(name: string, pathVar: string | undefined): Promise<string | undefined> {
  if (isAbsolute(name)) return (await executable(name)) ? name : undefined
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    if (await executable(candidate)) return candidate
  }
  return undefined
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A running Quick Tunnel. */
export interface QuickTunnel {
  readonly url: string
  /** The cloudflared process id. */
  readonly pid: number | undefined
  /** Resolves when cloudflared exits by itself (the tunnel is then gone). */
  readonly exited: Promise<number | null>
  /** End cloudflared (SIGTERM, then SIGKILL after 3 s) and wait for it. Idempotent. */
  close(): Promise<void>
}

/** Starting failed; `rateLimited` says whether the guard must start its cooldown. */
export class QuickTunnelError extends IicpError {
  constructor(message: string, readonly rateLimited: boolean) {
    super('service_unavailable', message, { extra: { reason: rateLimited ? 'tunnel_rate_limited' : 'tunnel_failed' } })
  }
}

function ender(child: ChildProcess, exited: Promise<number | null>, timers: Timers): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => {
    closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const hard = timers.setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        timers.clearTimeout(hard)
      }
    })()
    return closing
  }
}

/** Start cloudflared for `localUrl`; resolves once its public URL is known. */
export async function startQuickTunnel(a: {
  executable: string
  localUrl: string
  urlPattern?: RegExp
  timers: Timers
  timeoutMs?: number
  signal?: AbortSignal
}): Promise<QuickTunnel> {
  const pattern = a.urlPattern ?? TRYCLOUDFLARE_URL
  const child = spawn(a.executable, ['tunnel', '--no-autoupdate', '--url', a.localUrl], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code))
    child.once('error', () => resolve(null))
  })
  const close = ender(child, exited, a.timers)
  let rateLimited = false
  let tail = ''
  const url = await new Promise<string>((resolve, reject) => {
    let done = false
    const finish = (err: QuickTunnelError | undefined, found?: string): void => {
      if (done) return
      done = true
      a.timers.clearTimeout(timer)
      a.signal?.removeEventListener('abort', onAbort)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      if (err !== undefined) reject(err)
      else resolve(found as string)
    }
    const onData = (chunk: Buffer): void => {
      // Keep a short tail so a URL split across chunks is still found.
      tail = (tail + chunk.toString('utf8')).slice(-4096)
      if (RATE_LIMITED.test(tail)) rateLimited = true
      const m = pattern.exec(tail)
      if (m !== null) finish(undefined, m[0])
    }
    const onAbort = (): void => finish(new QuickTunnelError('Quick Tunnel start aborted', false))
    const timer = a.timers.setTimeout(() => finish(new QuickTunnelError('cloudflared printed no tunnel URL in time', rateLimited)), a.timeoutMs ?? QUICK_TUNNEL_START_TIMEOUT_MS)
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', () => finish(new QuickTunnelError('cloudflared could not be started', false)))
    void exited.then((code) => finish(new QuickTunnelError(`cloudflared exited (code ${String(code)}) before printing a tunnel URL`, rateLimited)))
    if (a.signal?.aborted === true) onAbort()
    else a.signal?.addEventListener('abort', onAbort, { once: true })
  }).catch(async (err: unknown) => {
    await close()
    throw err
  })
  // Drain output from here on so a chatty cloudflared never blocks on a full pipe.
  child.stdout?.resume()
  child.stderr?.resume()
  return { url: url.replace(/\/+$/, ''), pid: child.pid, exited, close }
}
