/**
 * Runs the CLI as a child process the way `pnpm iicp` does: from source through tsx with the
 * `@iicp/source` condition, so the tests exercise exactly what a fresh clone runs.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

/** What a finished CLI run produced. */
export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Environment for child runs: no colour, no inherited IICP_* settings, a private IICP_HOME when given. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IICP_') && k !== 'FORCE_COLOR') env[k] = v
  return { ...env, NO_COLOR: '1', ...extra }
}

/**
 * Start the CLI; the caller reads its streams and ends it. `via` runs it through a command that
 * then execs it, such as `['ip', 'netns', 'exec', '<ns>']`, so the child's pid is still the CLI's.
 */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}, via: readonly string[] = []): ChildProcess {
  const [command = process.execPath, ...rest] = [...via, process.execPath, '--import', 'tsx', '--conditions=@iicp/source', BIN, ...args]
  return spawn(command, rest, {
    cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Run the CLI to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, via: readonly string[] = []): Promise<CliRun> {
  const child = spawnCli(args, env, via)
  return finished(child)
}

/** Collect a child's output until it exits. */
export function finished(child: ChildProcess): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Resolve with the first stdout line that parses as JSON and satisfies `match`. */
export function waitForJsonLine(child: ChildProcess, match: (v: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const onData = (s: string): void => {
      buffer += s
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const v = JSON.parse(line) as Record<string, unknown>
          if (match(v)) {
            child.stdout?.off('data', onData)
            resolve(v)
            return
          }
        } catch {
          reject(new Error(`stdout line is not JSON: ${line}`))
        }
      }
    }
    child.stdout?.setEncoding('utf8').on('data', onData)
    child.once('exit', (code) => reject(new Error(`CLI exited with ${code} before the expected line`)))
  })
}

/** A loopback port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
