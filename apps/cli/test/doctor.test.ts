/**
 * What this proves, in-process through `main()` against a real in-repo directory, a real node and real
 * loopback servers: `iicp node status --json` reports what the node advertises (endpoint, tier, route
 * evidence, last heartbeat) from its state file, its /iicp/health and the directory, never printing its
 * token; stale heartbeats, a missing node or state, and a tunnel cooldown each produce concrete advice and
 * exit 1 where the node is not serving; `iicp doctor` checks directory reachability, the listen port
 * (free, held by an IICP node, or held by something else), the backend's model list and the tunnel rung;
 * and `iicp node serve` with IICP_TUNNEL_URL advertises the tunnel (after its dial-back) as tier "tunnel".
 */
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { collectStatus } from '../src/commands/doctor.js'
import type { NodeStatusReport } from '../src/commands/doctor.js'
import { closedPort, finished, spawnCli, waitForJsonLine } from './run-cli.js'
import { request as httpRequest } from 'node:http'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function bufferIo(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write(chunk: Buffer | string, _e, cb) { append(chunk.toString()); cb() } })
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1', ...env }, out: () => out, err: () => err }
}

const argv = (...args: string[]): string[] => ['node', 'iicp', ...args]

async function tempHome(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'iicp-doctor-'))
  cleanup.push(() => rm(d, { recursive: true, force: true }))
  return d
}

async function dir(): Promise<RunningDirectory> {
  const d = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
  cleanup.push(() => d.close())
  return d
}

async function servingNode(d: RunningDirectory, home: string): Promise<IicpNode> {
  const n = new IicpNode({ directoryUrl: d.apiUrl, home, host: '127.0.0.1', port: 0, cx: false, backend: echo() })
  cleanup.push(() => n.close())
  await n.serve()
  return n
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function deadUrl(): Promise<string> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  await new Promise<void>((r) => s.close(() => r()))
  return url
}

describe('iicp node status', () => {
  it('reports what the node advertises, its tier, route evidence and last heartbeat, without its token', async () => {
    const d = await dir()
    const home = await tempHome()
    const node = await servingNode(d, home)
    const io = bufferIo()
    expect(await main(argv('node', 'status', '--json', '--home', home, '--node', node.url as string), io)).toBe(0)
    const r = JSON.parse(io.out()) as NodeStatusReport
    expect(r.state).toMatchObject({ exists: true, node_id: node.nodeId, directory_url: d.apiUrl, has_token: true, running_pid: process.pid })
    expect(r.node).toMatchObject({ url: node.url, reachable: true, node_id: node.nodeId, status: 'ok', registered: true, models: ['echo-1'] })
    expect(r.directory).toMatchObject({ url: d.apiUrl, reachable: true, listed: true, endpoint: node.url, tier: 'local', available: true, status: 'active' })
    expect(typeof r.directory.route_evidence).toBe('string')
    expect(r.directory.last_heartbeat_at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(r.directory.last_heartbeat_age_s).toBeGreaterThanOrEqual(0)
    expect(r.advice).toEqual([])
    const token = (JSON.parse(await readFile(join(home, 'nodes', 'default.json'), 'utf8')) as { node_token: string }).node_token
    expect(io.out()).not.toContain(token)

    const human = bufferIo()
    expect(await main(argv('node', 'status', '--home', home, '--node', node.url as string), human)).toBe(0)
    expect(human.out()).toContain(`advertises  ${node.url as string}`)
    expect(human.out()).toContain('lists the node')
    expect(human.out()).not.toContain(token)
  })

  it('advises when the last heartbeat is older than the 90 s expiry', async () => {
    const d = await dir()
    const home = await tempHome()
    const node = await servingNode(d, home)
    const seen = Date.parse(String((await collectStatus({ home, node: node.url as string }, {})).directory.last_heartbeat_at))
    const fresh = await collectStatus({ home, node: node.url as string }, {}, () => seen + 90_000)
    expect(fresh.directory.last_heartbeat_age_s).toBe(90)
    expect(fresh.advice).toEqual([])
    const r = await collectStatus({ home, node: node.url as string }, {}, () => seen + 200_000)
    expect(r.directory.last_heartbeat_age_s).toBe(200)
    expect(r.advice.some((a) => a.startsWith('The directory last heard from this node') && a.includes('expiry is 90 s'))).toBe(true)
  })

  it('exits 1 with advice when there is no state and nothing answers', async () => {
    const home = await tempHome()
    const io = bufferIo()
    expect(await main(argv('node', 'status', '--json', '--home', home, '--node', await deadUrl()), io)).toBe(1)
    const r = JSON.parse(io.out()) as NodeStatusReport
    expect(r.state.exists).toBe(false)
    expect(r.node.reachable).toBe(false)
    expect(r.advice[0]).toMatch(/^No node answers at http:\/\/127\.0\.0\.1:\d+\/iicp\/health/)
    expect(r.advice[1]).toContain('iicp node serve')
  })

  it('names a Quick Tunnel cooldown recorded on this host', async () => {
    const home = await tempHome()
    await mkdir(join(home, 'tunnel'), { recursive: true })
    const until = Date.now() + 600_000
    await writeFile(join(home, 'tunnel', 'rate-limit.json'), JSON.stringify({ cooldown_until_ms: until, reason: 'rate_limited' }))
    const r = await collectStatus({ home, node: await deadUrl() }, {})
    expect(r.tunnel.cooldown_until).toBe(new Date(until).toISOString())
    expect(r.advice.some((a) => a.includes('IICP_TUNNEL_URL'))).toBe(true)
  })
})

describe('iicp doctor', () => {
  it('passes every check against a live directory, an occupied node port, a backend and cloudflared on the PATH', async () => {
    const d = await dir()
    const home = await tempHome()
    const node = await servingNode(d, home)
    const backend = await listen(createServer((req, res) => {
      res.writeHead(req.url === '/v1/models' ? 200 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'llama3' }, { id: 'qwen2.5' }] }))
    }))
    const bin = join(home, 'bin')
    await mkdir(bin)
    await writeFile(join(bin, 'cloudflared'), '#!/bin/sh\nexit 0\n')
    await chmod(join(bin, 'cloudflared'), 0o755)
    const io = bufferIo({ PATH: bin })
    const code = await main(argv('doctor', '--json', '--directory', d.apiUrl, '--home', home, '--node', node.url as string, '--host', '127.0.0.1', '--port', String(node.port), '--base-url', backend), io)
    const r = JSON.parse(io.out()) as { ok: boolean; checks: Array<{ id: string; status: string; summary: string }> }
    expect(r.checks.map((c) => [c.id, c.status])).toEqual([['directory', 'ok'], ['port', 'ok'], ['backend', 'ok'], ['tunnel', 'ok'], ['node', 'ok']])
    expect(r.checks[1]?.summary).toBe(`${String(node.port)} is served by IICP node ${node.nodeId}`)
    expect(r.checks[2]?.summary).toBe(`${backend}/v1 serves 2 model(s): llama3, qwen2.5`)
    expect(r.ok).toBe(true)
    expect(code).toBe(0)
  })

  it('fails with advice when the directory and backend do not answer, and warns about a port another program holds', async () => {
    const home = await tempHome()
    const other = createServer((_q, res) => res.end('hello'))
    const otherUrl = await listen(other)
    const port = Number(new URL(otherUrl).port)
    const io = bufferIo({ PATH: '' })
    const code = await main(argv('doctor', '--json', '--directory', `${await deadUrl()}/api`, '--home', home, '--node', await deadUrl(), '--host', '127.0.0.1', '--port', String(port), '--base-url', await deadUrl()), io)
    const r = JSON.parse(io.out()) as { ok: boolean; checks: Array<{ id: string; status: string; advice?: string }> }
    expect(Object.fromEntries(r.checks.map((c) => [c.id, c.status]))).toEqual({ directory: 'fail', port: 'warn', backend: 'fail', tunnel: 'skip', node: 'skip' })
    expect(r.checks.find((c) => c.id === 'directory')?.advice).toContain('--directory')
    expect(r.checks.find((c) => c.id === 'port')?.advice).toContain('--port')
    expect(r.checks.find((c) => c.id === 'backend')?.advice).toContain('--base-url')
    expect(r.ok).toBe(false)
    expect(code).toBe(1)
  })

  it('prints one line per check for people, and is listed with node status in the help', async () => {
    const d = await dir()
    const home = await tempHome()
    const io = bufferIo({ PATH: '' })
    await main(argv('doctor', '--directory', d.apiUrl, '--home', home, '--node', await deadUrl(), '--host', '127.0.0.1', '--port', '0'), io)
    expect(io.out()).toMatch(/^✔ directory\s+http:\/\/127\.0\.0\.1:\d+\/api answers discover$/m)
    expect(io.out()).toMatch(/^– backend\s+no --base-url given/m)
    const help = bufferIo()
    expect(await main(argv('node', 'status', '--help'), help)).toBe(0)
    expect(help.out()).toContain('--json')
    const top = bufferIo()
    await main(argv('--help'), top)
    expect(top.out()).toContain('doctor')
  })
})

describe('iicp node serve with a tunnel', () => {
  it('advertises IICP_TUNNEL_URL as external_tunnel once the dial-back reaches the node, and node status shows tier "tunnel"', async () => {
    const d = await dir()
    const home = await tempHome()
    const port = await closedPort()
    // A loopback stand-in for the tunnel's edge, forwarding to the port the node will take.
    const edge = await listen(createServer((req, res) => {
      const up = httpRequest(`http://127.0.0.1:${port}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      up.on('error', () => { res.writeHead(502); res.end() })
      req.pipe(up)
    }))
    const child = spawnCli(['node', 'serve', '--json', '--directory', d.apiUrl, '--host', '127.0.0.1', '--port', String(port), '--home', home],
      { IICP_TUNNEL_URL: edge, PATH: process.env.PATH ?? '' })
    const done = finished(child)
    try {
      const registered = await waitForJsonLine(child, (v) => v.event === 'registered')
      expect(registered.endpoint).toBe(edge)
      const io = bufferIo()
      expect(await main(argv('node', 'status', '--json', '--home', home, '--node', `http://127.0.0.1:${port}`), io)).toBe(0)
      const r = JSON.parse(io.out()) as NodeStatusReport
      expect(r.directory).toMatchObject({ listed: true, endpoint: edge, transport_method: 'external_tunnel', exposure_mode: 'tunnel_required', tier: 'tunnel' })
    } finally {
      child.kill('SIGINT')
      const run = await done
      expect(run.code).toBe(0)
    }
  })
})
