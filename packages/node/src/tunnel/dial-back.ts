/**
 * The dial-back check (sem §6.4; SDK-NODE-05: never advertise an unverified public route): fetch
 * `<candidate>/iicp/health` through the tunnel and require the node id the node itself reports, so a URL
 * that reaches nothing, or another machine, is never registered. Tunnels often need a few seconds
 * before their hostname resolves, so it retries a few times on the injected clock.
 */
import { ControlPlaneHttp } from '../control-plane-http.js'
import type { Timers } from '../timers.js'

/** Dial-back settings. */
export interface DialBackOptions {
  /** @default 5 */
  attempts: number
  /** @default 2000 */
  intervalMs: number
  /** @default 5000 */
  timeoutMs: number
  timers: Timers
  signal?: AbortSignal
}

async function healthNodeId(http: ControlPlaneHttp, base: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const res = await http.send(`${base}/iicp/health`, 'GET', { accept: 'application/json' }, undefined, signal)
    if (res.statusCode !== 200) return undefined
    const id = (JSON.parse(res.text) as { node_id?: unknown }).node_id
    return typeof id === 'string' && id.length > 0 ? id : undefined
  } catch {
    return undefined
  }
}

function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const h = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      timers.clearTimeout(h)
      resolve()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** True when `candidate` serves the same node as `localUrl`. */
export async function dialBack(candidate: string, localUrl: string, o: DialBackOptions): Promise<boolean> {
  const http = new ControlPlaneHttp(o.timeoutMs)
  try {
    const own = await healthNodeId(http, localUrl, o.signal)
    if (own === undefined) return false
    for (let i = 0; i < o.attempts; i++) {
      if (o.signal?.aborted === true) return false
      if ((await healthNodeId(http, candidate, o.signal)) === own) return true
      if (i + 1 < o.attempts) await sleep(o.timers, o.intervalMs, o.signal)
    }
    return false
  } finally {
    http.close()
  }
}
