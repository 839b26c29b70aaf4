/**
 * Benchmark servers run in their own processes so their CPU and RSS can be read from /proc and the
 * load generator never shares a core's event loop with them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'esbuild'

export interface ServerProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** What the child printed as its first JSON line (at least `url`). */
  readonly info: { url: string } & Record<string, unknown>
  close(): Promise<void>
}

const bundles = new Map<string, Promise<string>>()

/** esbuild plugin: @iicp packages are bundled from source; every other package stays external by absolute path. */
export const externalByPath: Plugin = {
  name: 'external-by-path',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.path.startsWith('@iicp/') || args.path.startsWith('node:') || args.pluginData === 'inner') return undefined
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'inner' })
      return r.errors.length ? undefined : { path: r.path, external: true }
    })
  },
}

/**
 * Servers are bundled once per run (the @iicp packages from source, third-party packages left external by
 * absolute path) and run with plain `node`: a TypeScript loader would add 30–45 MiB of RSS and a loader
 * thread to every measured process, baseline and candidate alike.
 */
export function bundle(script: string, entryPath?: string): Promise<string> {
  let out = bundles.get(script)
  if (!out) {
    out = (async () => {
      const { build } = await import('esbuild')
      const entry = entryPath ?? fileURLToPath(new URL(`../servers/${script}.ts`, import.meta.url))
      // Code splitting keeps dynamic imports lazy, as they are in the packages' own builds.
      const outdir = fileURLToPath(new URL(`../../.build/${script}/`, import.meta.url))
      const outfile = `${outdir}${script}.js`
      await build({
        entryPoints: { [script]: entry }, outdir, splitting: true, bundle: true, format: 'esm', platform: 'node', target: 'node20',
        conditions: ['@iicp/source'], logLevel: 'error',
        plugins: [externalByPath],
      })
      return outfile
    })()
    bundles.set(script, out)
  }
  return out
}

/** Start `bench/src/servers/<script>.ts` with args; resolves once it prints its JSON ready line. */
export async function spawnServer(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const file = await bundle(script)
  const child = spawn(process.execPath, [file, ...args], {
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
