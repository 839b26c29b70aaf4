/**
 * Harness for the miniupnpd integration tests: decides up front whether namespaces can be made
 * (and why not), builds and removes them through gateway-netns.sh, runs miniupnpd inside the router
 * namespace, drives lan-agent.ts inside the LAN namespace, and dials from the WAN namespace.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('./gateway-netns.sh', import.meta.url))
const agentScript = fileURLToPath(new URL('./lan-agent.ts', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))
const tsx = join(repoRoot, 'node_modules/.bin/tsx')

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** Why the namespace tests cannot run here, or undefined when they can. Computed once, up front. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const tool of ['ip', 'nft', 'miniupnpd']) {
    if (!has(tool)) return `${tool} is not installed (apt-get install -y miniupnpd-nftables nftables)`
  }
  const probe = `iicpprobe${process.pid}`
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim().slice(0, 120)}`
  spawnSync('ip', ['netns', 'del', probe])
  return undefined
}

/** Three namespaces (gw, lan, wan) with unique names, and the router's miniupnpd. */
export class GatewayNetns {
  readonly prefix = `iicp${process.pid % 100000}${Math.random().toString(36).slice(2, 6)}`
  readonly gw = `${this.prefix}gw`
  readonly lan = `${this.prefix}lan`
  readonly wan = `${this.prefix}wan`
  readonly work = mkdtempSync(join(tmpdir(), 'iicp-nat-'))
  private daemon: ChildProcess | undefined
  private daemonLog = ''
  private readonly logWaiters = new Set<() => void>()
  private readonly onExit = (): void => this.downSync()

  up(): void {
    process.once('exit', this.onExit)
    const res = spawnSync('bash', [script, 'up', this.prefix, this.work], { encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`namespace setup failed: ${res.stderr.trim()}`)
  }

  /** Start miniupnpd in the router namespace (extra flags: `-1` for IGDv1). */
  async startMiniupnpd(flags: string[] = []): Promise<void> {
    await this.stopMiniupnpd()
    rmSync(join(this.work, 'leases'), { force: true })
    this.daemonLog = ''
    const child = spawn('ip', ['netns', 'exec', this.gw, 'miniupnpd', '-d', '-f', join(this.work, 'miniupnpd.conf'), '-P', join(this.work, 'miniupnpd.pid'), ...flags], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.daemon = child
    // Ready once it listens for NAT-PMP, its last start-up step. No short deadline: a loaded machine
    // only makes the start slower; a daemon that dies says why.
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

  get log(): string {
    return this.daemonLog
  }

  /**
   * How many lines of the daemon's log match `pattern` (no `g` flag), once at least `times` do. The log
   * reaches us through a pipe and can trail the answer that caused it, so positive checks wait for it;
   * `patienceMs` only turns a line that never comes into an error showing the log, instead of a timeout.
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

  async stopMiniupnpd(): Promise<void> {
    const child = this.daemon
    this.daemon = undefined
    if (!child || child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    // miniupnpd removes its rules on SIGTERM; if it hangs, it goes anyway (it is ours, by pid).
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(force)
  }

  /** Replace the router's IPv4 WAN address (e.g. 100.64.0.1/24 to play a CGNAT customer router). */
  setWanAddress(cidr: string): void {
    for (const args of [['-4', 'addr', 'flush', 'dev', 'wan0'], ['addr', 'add', cidr, 'dev', 'wan0']]) {
      const res = spawnSync('ip', ['-n', this.gw, ...args], { encoding: 'utf8' })
      if (res.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${res.stderr.trim()}`)
    }
  }

  /**
   * Make the LAN host a carrier-grade-NAT customer with no router of its own to ask, as on an LTE modem's
   * link: its only address `lanCidr` (e.g. 100.64.0.2/24), IPv6 off, the default route via the router's
   * `routerCidr`, which then NATs it out of wan0 like the carrier's equipment. Stop miniupnpd first.
   */
  setLanAddress(lanCidr: string, routerCidr: string): void {
    const router = routerCidr.split('/')[0] ?? ''
    const steps: Array<[ns: string, args: string[]]> = [
      [this.lan, ['ip', 'addr', 'flush', 'dev', 'eth0']],
      [this.lan, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']],
      [this.lan, ['sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=1']],
      [this.gw, ['ip', '-4', 'addr', 'flush', 'dev', 'lan0']],
      [this.gw, ['ip', 'addr', 'add', routerCidr, 'dev', 'lan0']],
      [this.lan, ['ip', 'addr', 'add', lanCidr, 'dev', 'eth0']],
      [this.lan, ['ip', 'route', 'replace', 'default', 'via', router]],
    ]
    for (const [ns, args] of steps) {
      const res = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' })
      if (res.status !== 0) throw new Error(`${args.join(' ')} in ${ns} failed: ${res.stderr.trim()}`)
    }
  }

  /** The router's NAT and filter rules as miniupnpd left them. */
  nft(): string {
    return spawnSync('ip', ['netns', 'exec', this.gw, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).stdout
  }

  /** miniupnpd's lease file: `PROTO:ext:int_ip:int_port:expiry:desc` per line. */
  leases(): string {
    try {
      return readFileSync(join(this.work, 'leases'), 'utf8')
    } catch {
      return ''
    }
  }

  /**
   * GET `url` from the WAN namespace; resolves with the body or `ERR:<reason>`. The default timeout is
   * generous because a healthy answer never waits for it; checks that expect no answer pass a short one.
   */
  wanFetch(url: string, timeoutMs = 15_000): Promise<string> {
    const code = `const h=require('node:http');const r=h.get(process.argv[1],{timeout:${timeoutMs}},(res)=>{let b='';res.on('data',(c)=>b+=c);res.on('end',()=>process.stdout.write(b))});r.on('timeout',()=>{r.destroy();process.stdout.write('ERR:timeout')});r.on('error',(e)=>process.stdout.write('ERR:'+e.code))`
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', this.wan, process.execPath, '-e', code, url], { encoding: 'utf8' }, (_err, stdout) => resolve(stdout))
    })
  }

  /** Start the LAN agent serving `port` inside the LAN namespace. */
  async agent(port: number): Promise<LanAgent> {
    const child = spawn('ip', ['netns', 'exec', this.lan, tsx, '--conditions=@iicp/source', agentScript, String(port)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const agent = new LanAgent(child, this)
    await agent.ready
    return agent
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

/** JSON-lines client for lan-agent.ts; answers its reachability questions by dialing from WAN. */
export class LanAgent {
  readonly ready: Promise<void>
  private nextId = 1
  private readonly waiting = new Map<number, (msg: Record<string, unknown>) => void>()
  private stderr = ''

  constructor(
    private readonly child: ChildProcess,
    private readonly netns: GatewayNetns,
  ) {
    child.stderr?.on('data', (b: Buffer) => {
      this.stderr += b.toString('utf8')
    })
    let markReady: () => void = () => {}
    let fail: (e: Error) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve
      fail = reject
    })
    child.once('exit', (code) => fail(new Error(`lan agent exited ${code}: ${this.stderr.slice(-2000)}`)))
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>
      if (msg.ready) return markReady()
      if (typeof msg.verify === 'string') {
        void this.netns.wanFetch(msg.verify).then((body) => this.write({ id: msg.id, verified: body === 'lan-ok' }))
        return
      }
      const done = this.waiting.get(Number(msg.id))
      this.waiting.delete(Number(msg.id))
      done?.(msg)
    })
  }

  private write(message: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(message)}\n`)
  }

  /** Send a command; rejects with the agent's error message when it failed. */
  call<T = Record<string, unknown>>(command: Record<string, unknown>): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, (msg) => {
        if (msg.ok) resolve(msg as T)
        else reject(Object.assign(new Error(`agent ${String(command.op)} failed: ${JSON.stringify(msg.error)}`), { agentError: msg.error }))
      })
      this.write({ ...command, id })
    })
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    await this.call({ op: 'close' }).catch(() => this.child.kill('SIGTERM'))
    await exited
  }
}
