/**
 * Benchmark servers run in their own processes so their CPU and RSS can be read from /proc and the
 * load generator never shares a core's event loop with them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export interface ServerProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** What the child printed as its first JSON line (at least `url`). */
  readonly info: { url: string } & Record<string, unknown>
  close(): Promise<void>
}

const TSX_ARGS = ['--conditions=@iicp/source', '--import', 'tsx']

/** Start `bench/src/servers/<script>.ts` with args; resolves once it prints its JSON ready line. */
export async function spawnServer(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const file = fileURLToPath(new URL(`../servers/${script}.ts`, import.meta.url))
  const child = spawn(process.execPath, [...TSX_ARGS, file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  })
  const rl = createInterface({ input: child.stdout! })
  const info = await new Promise<ServerProcess['info']>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`${script} exited with ${code} before it was ready`))
    child.once('exit', onExit)
    rl.once('line', (line) => {
      child.off('exit', onExit)
      try {
        resolve(JSON.parse(line) as ServerProcess['info'])
      } catch {
        reject(new Error(`${script} printed a non-JSON ready line`))
      }
    })
  })
  return {
    child,
    pid: child.pid!,
    info,
    async close() {
      if (child.exitCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}

const CLOCK_TICK_MS = 10 // USER_HZ is 100 on Linux

/** CPU time (user+system, ms) a process has used so far. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may contain spaces; fields start after the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS
}

/** Resident set size of a process in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+) kB/.exec(status)
  return m ? Number(m[1]) / 1024 : Number.NaN
}
