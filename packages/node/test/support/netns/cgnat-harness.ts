/**
 * Harness for the tier-3 end-to-end test: says up front whether namespaces can be made (and why not),
 * builds and removes the four namespaces of cgnat-netns.sh, runs miniupnpd in the home router, and runs
 * TypeScript scripts inside a namespace as JSON-lines child processes. Every process it starts it also ends.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('./cgnat-netns.sh', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url))

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const tool of ['ip', 'nft', 'miniupnpd']) {
    if (!has(tool)) return `${tool} is not installed (apt-get install -y miniupnpd-nftables nftables)`
  }
  const probe = `iicpnp${process.pid}`
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim().slice(0, 120)}`
  spawnSync('ip', ['netns', 'del', probe])
  return undefined
}

/** A child speaking one JSON object per line. */
export class JsonLinesProcess {
  private readonly lines: Array<Record<string, unknown>> = []
  private readonly waiters: Array<{ match: (v: Record<string, unknown>) => boolean; resolve: (v: Record<string, unknown>) => void }> = []
  private nextId = 1
  private stderr = ''
  readonly exited: Promise<number | null>

  constructor(private readonly child: ChildProcess) {
    child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString('utf8')).slice(-4000)
    })
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let v: Record<string, unknown>
      try {
        v = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      this.lines.push(v)
      for (const w of [...this.waiters]) {
        if (w.match(v)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(v)
        }
      }
    })
  }

  /** Every line so far. */
  get seen(): ReadonlyArray<Record<string, unknown>> {
    return this.lines
  }

  /** The first line (already seen or still to come) that matches; rejects if the child exits first. */
  next(match: (v: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const found = this.lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve })
      void this.exited.then((code) => reject(new Error(`child exited ${code} while waiting: ${this.stderr}`)))
    })
  }

  /** Send a command with an id and wait for the answer carrying it. */
  async call(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++
    const answer = this.next((v) => v.id === id)
    this.write(JSON.stringify({ ...command, id }))
    const a = await answer
    if (a.ok !== true) throw new Error(`${String(command.op)} failed: ${JSON.stringify(a.error)}`)
    return a
  }

  write(line: string): void {
    this.child.stdin?.write(`${line}\n`)
  }

  /** Ask nicely with `line`, then end the child by its pid if it does not leave. */
  async stop(line: string): Promise<void> {
    if (this.child.exitCode !== null) return
    this.write(line)
    const force = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await this.exited
    clearTimeout(force)
  }
}

/** The four namespaces of cgnat-netns.sh with unique names; `public` gives the home router a public WAN address. */
export class CgnatNetns {
  constructor(private readonly mode: 'cgnat' | 'public' = 'cgnat') {}

  readonly prefix = `ic${process.pid % 100000}${Math.random().toString(36).slice(2, 5)}`
  readonly lan = `${this.prefix}lan`
  readonly gw = `${this.prefix}gw`
  readonly wan = `${this.prefix}wan`
  readonly work = mkdtempSync(join(tmpdir(), 'iicp-cgnat-'))
  private daemon: ChildProcess | undefined
  private daemonLog = ''
  private readonly onExit = (): void => this.downSync()

  up(): void {
    process.once('exit', this.onExit)
    const res = spawnSync('bash', [script, 'up', this.prefix, this.work, this.mode], { encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`namespace setup failed: ${res.stderr.trim()}`)
  }

  /** miniupnpd on the home router, as a home router with a CGNAT WAN address runs it. */
  async startMiniupnpd(): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.gw, 'miniupnpd', '-d', '-f', join(this.work, 'miniupnpd.conf'), '-P', join(this.work, 'miniupnpd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.daemon = child
    const collect = (b: Buffer): void => {
      this.daemonLog += b.toString('utf8')
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    for (let i = 0; i < 100 && !this.daemonLog.includes('Listening for NAT-PMP'); i++) {
      if (child.exitCode !== null) throw new Error(`miniupnpd exited: ${this.daemonLog}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    if (!this.daemonLog.includes('Listening for NAT-PMP')) throw new Error(`miniupnpd did not start: ${this.daemonLog}`)
  }

  /** The home router's nftables rules (to show nothing was forwarded inbound). */
  routerRules(): string {
    return spawnSync('ip', ['netns', 'exec', this.gw, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).stdout
  }

  /** Run `tsScript` (a path relative to this folder) inside namespace `ns`. */
  run(ns: string, tsScript: string, args: string[] = []): JsonLinesProcess {
    const file = fileURLToPath(new URL(tsScript, import.meta.url))
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--conditions=@iicp/source', file, ...args], {
      cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'],
    })
    return new JsonLinesProcess(child)
  }

  async down(): Promise<void> {
    const child = this.daemon
    this.daemon = undefined
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(force)
    }
    this.downSync()
  }

  private downSync(): void {
    process.off('exit', this.onExit)
    this.daemon?.kill('SIGKILL')
    spawnSync('bash', [script, 'down', this.prefix])
    rmSync(this.work, { recursive: true, force: true })
  }
}
