/**
 * Loopback stand-ins for an external tunnel provider (we do not ship one): a `cloudflared` shell script written
 * into a temp PATH dir that logs its pid and arguments, tells the "edge" where to forward and prints a URL; the
 * edge, a loopback HTTP server forwarding to that target as a tunnel would; and an impostor claiming another
 * node id. Every server listens on 127.0.0.1 and is closed through `cleanup`.
 */
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Registers an undo step, run after the test. */
export type Cleanup = (fn: () => Promise<unknown>) => void

/** A temp dir with an empty `bin/` (the PATH the rung searches). */
export async function tunnelHome(cleanup: Cleanup): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'iicp-tunnel-auto-'))
  cleanup(() => rm(d, { recursive: true, force: true }))
  await mkdir(join(d, 'bin'))
  return d
}

/** Write an executable shell script `name` into `<dir>/bin`. */
export async function script(dir: string, name: string, body: string): Promise<void> {
  const p = join(dir, 'bin', name)
  await writeFile(p, `#!/bin/sh\n${body}\n`)
  await chmod(p, 0o755)
}

/** A stand-in cloudflared: logs its pid and args, tells the edge where to forward, prints `url`, stays up. */
export function cloudflaredOk(dir: string, url: string): string {
  return [
    `echo "$$ $*" >> "${dir}/cloudflared.log"`,
    `printf '%s' "$4" > "${dir}/target"`,
    'echo "2026-11-26T12:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2',
    `echo "2026-11-26T12:00:01Z INF |  ${url}  |" >&2`,
    'exec sleep 120',
  ].join('\n')
}

/** The cloudflared invocations so far (`<pid> <args>` each). */
export async function invocations(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'cloudflared.log'), 'utf8').catch(() => '')
  return text.split('\n').filter((l) => l !== '')
}

/** Whether a process is still running. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * The loopback "edge": forwards every request to the URL in `<dir>/target`, like a tunnel would. With
 * `forwardFirst`, only that many requests get through and the rest answer 502, as an edge that lost its route.
 */
export async function edge(dir: string, cleanup: Cleanup, opts: { forwardFirst?: number } = {}): Promise<string> {
  let forwarded = 0
  const server = createServer((req, res) => {
    if (opts.forwardFirst !== undefined && forwarded >= opts.forwardFirst) {
      res.writeHead(502)
      res.end()
      return
    }
    forwarded++
    void readFile(join(dir, 'target'), 'utf8').then((target) => {
      const up = httpRequest(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      up.on('error', () => { res.writeHead(502); res.end() })
      req.pipe(up)
    }, () => { res.writeHead(502); res.end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A loopback server that claims to be some other node. */
export async function impostor(cleanup: Cleanup): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ status: 'ok', node_id: 'someone-else' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
