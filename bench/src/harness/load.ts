/** HTTP load rounds generated from a child process, with the server's CPU sampled around each round. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { cpuMs } from './process.js'

export interface LoadSpec {
  url: string
  method?: 'GET' | 'POST'
  body?: string
  headers?: Record<string, string>
  connections: number
  durationMs: number
}
export interface LoadResult {
  rps: number
  total: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  /** Server CPU ms per completed request, when a server pid was given. */
  cpuMsPerReq?: number
}

const CHILD = fileURLToPath(new URL('./load-child.ts', import.meta.url))

export async function runLoad(spec: LoadSpec, serverPid?: number): Promise<LoadResult> {
  const cpuBefore = serverPid ? cpuMs(serverPid) : 0
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    child.stdout.on('data', (d: Buffer) => (buf += d.toString()))
    child.once('exit', (code) => (code === 0 ? resolve(buf) : reject(new Error(`load generator exited ${code}`))))
  })
  const r = JSON.parse(out) as LoadResult
  if (serverPid && r.total > 0) r.cpuMsPerReq = (cpuMs(serverPid) - cpuBefore) / r.total
  if (r.errors > 0 || r.non2xx > 0) {
    throw new Error(`load round against ${spec.url} had ${r.errors} errors and ${r.non2xx} non-2xx answers`)
  }
  return r
}
