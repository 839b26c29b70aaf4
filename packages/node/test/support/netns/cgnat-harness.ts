/**
 * Harness for the tier-3 end-to-end test: says up front whether namespaces can be made (and why not),
 * builds and removes the four namespaces of cgnat-netns.sh, runs miniupnpd in the home router, and runs
 * TypeScript scripts inside a namespace as JSON-lines child processes. Every process it starts it also ends.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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

/**
 * The four namespaces of cgnat-netns.sh with unique names; `public` gives the home router a public WAN address,
 * `cgnat6` adds routed IPv6 (2e00:200::2 on the LAN host) to the carrier-grade NAT home.
 */
export class CgnatNetns {
  constructor(private readonly mode: 'cgnat' | 'public' | 'cgnat6' = 'cgnat') {}

  readonly prefix = `ic${process.pid % 100000}${Math.random().toString(36).slice(2, 5)}`
  readonly lan = `${this.prefix}lan`
  readonly gw = `${this.prefix}gw`
  readonly wan = `${this.prefix}wan`
  readonly work = mkdtempSync(join(tmpdir(), 'iicp-cgnat-'))
  private daemon: ChildProcess | undefined
  private daemonLog = ''
  private readonly logWaiters = new Set<() => void>()
  private starts = 0
  private readonly onExit = (): void => this.downSync()

  up(): void {
    process.once('exit', this.onExit)
    const res = spawnSync('bash', [script, 'up', this.prefix, this.work, this.mode], { encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`namespace setup failed: ${res.stderr.trim()}`)
  }

  /**
   * (Re)start miniupnpd on the home router. `flags`: e.g. `-1` for IGDv1; `upnp: false` leaves only NAT-PMP
   * (and PCP) on, as routers that speak no UPnP do. Ready once it listens for NAT-PMP, its last start-up step;
   * no deadline of our own, since a loaded machine only makes the start slower and a daemon that dies says why.
   */
  async startMiniupnpd(flags: string[] = [], settings: { upnp?: boolean } = {}): Promise<void> {
    await this.stopMiniupnpd()
    let conf = join(this.work, 'miniupnpd.conf')
    if (settings.upnp === false) {
      const variant = join(this.work, `miniupnpd-${++this.starts}.conf`)
      writeFileSync(variant, readFileSync(conf, 'utf8').replace(/^enable_upnp=yes$/m, 'enable_upnp=no'))
      conf = variant
    }
    this.daemonLog = ''
    const child = spawn('ip', ['netns', 'exec', this.gw, 'miniupnpd', '-d', '-f', conf, '-P', join(this.work, 'miniupnpd.pid'), ...flags], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.daemon = child
    await new Promise<void>((resolve, reject) => {
      const collect = (b: Buffer): void => {
        this.daemonLog += b.toString('utf8')
        for (const wake of this.logWaiters) wake()
        if (this.daemonLog.includes('Listening for NAT-PMP')) resolve()
      }
      child.stdout?.on('data', collect)
      child.stderr?.on('data', collect)
      child.once('exit', () => reject(new Error(`miniupnpd exited: ${this.daemonLog}`)))
      child.once('error', reject)
    })
  }

  /** What miniupnpd has logged since it last started. */
  get log(): string {
    return this.daemonLog
  }

  /**
   * How many lines of miniupnpd's log match `pattern` (no `g` flag), once at least `times` do. The log arrives
   * through a pipe and can trail the answer that caused it, so this waits; `patienceMs` only turns a line that
   * never comes into an error showing the log instead of a test timeout.
   */
  async logLines(pattern: RegExp, times = 1, patienceMs = 30_000): Promise<number> {
    const count = (): number => this.daemonLog.split('\n').filter((line) => pattern.test(line)).length
    const giveUpAt = Date.now() + patienceMs
    while (count() < times) {
      const left = giveUpAt - Date.now()
      if (left <= 0) throw new Error(`miniupnpd logged ${count()} of ${times} lines matching ${pattern}; log tail:\n${this.daemonLog.slice(-3000)}`)
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer)
          this.logWaiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, left)
        this.logWaiters.add(wake)
      })
    }
    return count()
  }

  /** Stop miniupnpd (it removes its rules on SIGTERM); if it hangs it goes anyway, by our own pid. */
  async stopMiniupnpd(): Promise<void> {
    const child = this.daemon
    this.daemon = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(force)
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
    await this.stopMiniupnpd()
    this.downSync()
  }

  private downSync(): void {
    process.off('exit', this.onExit)
    this.daemon?.kill('SIGKILL')
    spawnSync('bash', [script, 'down', this.prefix])
    rmSync(this.work, { recursive: true, force: true })
  }
}
