/**
 * What this proves about the official SDKs' environment names in the CLI (official-sdks §4.4–§4.5, §7, §8 item 17):
 * `IICP_PROXY_ALLOW_LOOPBACK_NODES` reaches every consumer command's client (under --allow-private-endpoints and
 * IICP_ALLOW_PRIVATE_ENDPOINTS, over the loopback-directory default), and `iicp proxy` refuses a malformed value by
 * name; `node serve` refuses a malformed `IICP_TUNNEL_DEAD_POLICY`, `IICP_RELAY_BIND_TICKET_PUBLIC_KEY` (without
 * echoing it) or `IICP_AUTO_UPDATE` with exit 2 before it listens; a Quick Tunnel declared dead under the `exit`
 * policy ends `node serve` with 75, under `log-only` it only reports; `IICP_AUTO_UPDATE=0` silences the update
 * notice (the CLI never updates itself either way). Child processes run from source and touch only loopback.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { clientConfig } from '../src/consumer.js'
import { tunnelDeath } from '../src/commands/node.js'
import { EXIT_TUNNEL_DEAD } from '../src/exit.js'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { closedPort, runCli } from './run-cli.js'

const SLOW = 60_000
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describe('IICP_PROXY_ALLOW_LOOPBACK_NODES', () => {
  it('sets allowPrivateEndpoints for consumer commands, under the flag and IICP_ALLOW_PRIVATE_ENDPOINTS', () => {
    const remote = { directory: 'https://directory.example/api' }
    const local = { directory: 'http://127.0.0.1:9480/api' }
    expect(clientConfig(remote, {}).allowPrivateEndpoints).toBe(false)
    expect(clientConfig(remote, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '1' }).allowPrivateEndpoints).toBe(true)
    expect(clientConfig(local, {}).allowPrivateEndpoints).toBe(true)
    expect(clientConfig(local, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '0' }).allowPrivateEndpoints).toBe(false)
    expect(clientConfig({ ...remote, allowPrivateEndpoints: false }, { IICP_PROXY_ALLOW_LOOPBACK_NODES: '1' }).allowPrivateEndpoints).toBe(false)
  })

  it('makes iicp proxy refuse a malformed value by name before it listens', { timeout: SLOW }, async () => {
    const run = await runCli(['proxy', '--port', '0', '--directory', `http://127.0.0.1:${await closedPort()}/api`], { IICP_PROXY_ALLOW_LOOPBACK_NODES: 'loopback' })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('IICP_PROXY_ALLOW_LOOPBACK_NODES must be a boolean')
  })
})

describe('node serve refuses malformed official variables with exit 2', { timeout: SLOW }, () => {
  const serve = async (env: Record<string, string>): Promise<{ code: number | null; out: string }> => {
    const home = await mkdtemp(join(tmpdir(), 'iicp-official-env-'))
    cleanup.push(() => rm(home, { recursive: true, force: true }))
    const run = await runCli(['node', 'serve', '--host', '127.0.0.1', '--port', '0', '--directory', `http://127.0.0.1:${await closedPort()}/api`, '--home', home], env)
    return { code: run.code, out: run.stdout + run.stderr }
  }

  it('IICP_TUNNEL_DEAD_POLICY', async () => {
    const r = await serve({ IICP_TUNNEL_DEAD_POLICY: 'panic' })
    expect(r.code).toBe(2)
    expect(r.out).toContain("IICP_TUNNEL_DEAD_POLICY must be 'auto', 'retry', 'exit' or 'log-only'")
  })

  it('IICP_RELAY_BIND_TICKET_PUBLIC_KEY, without echoing the value', async () => {
    const value = 'MC4CAQAwBQYDK2VwBCIEIPrivateKeyMaterialThatMustNotBeEchoed0000'
    const r = await serve({ IICP_RELAY_BIND_TICKET_PUBLIC_KEY: value })
    expect(r.code).toBe(2)
    expect(r.out).toContain('IICP_RELAY_BIND_TICKET_PUBLIC_KEY')
    expect(r.out).not.toContain(value.slice(0, 16))
  })

  it('IICP_AUTO_UPDATE', async () => {
    const r = await serve({ IICP_AUTO_UPDATE: 'weekly' })
    expect(r.code).toBe(2)
    expect(r.out).toContain('IICP_AUTO_UPDATE')
  })
})

describe('a dead Quick Tunnel in node serve', () => {
  it('ends the command with 75 under the exit policy and only reports under log-only', async () => {
    const reported: string[] = []
    const exit = tunnelDeath((e) => reported.push(e.policy))
    exit.onDead({ policy: 'log-only', failedRebuilds: 3 })
    const pending = Symbol('pending')
    expect(await Promise.race([exit.exit, Promise.resolve(pending)])).toBe(pending)
    exit.onDead({ policy: 'exit', failedRebuilds: 3 })
    expect(await exit.exit).toEqual({ policy: 'exit', failedRebuilds: 3 })
    expect(reported).toEqual(['log-only', 'exit'])
    expect(EXIT_TUNNEL_DEAD).toBe(75)
  })
})

describe('IICP_AUTO_UPDATE', () => {
  function ttyIo(env: Record<string, string>): CliIo & { err: () => string } {
    let err = ''
    const sink = (append: (s: string) => void): Writable => new Writable({ write(c: Buffer | string, _e, cb) { append(c.toString()); cb() } })
    return { stdout: sink(() => undefined), stderr: Object.assign(sink((s) => (err += s)), { isTTY: true }), env: { NO_COLOR: '1', ...env }, err: () => err }
  }

  it('=0 silences the update notice; =1 still only prints it (nothing is ever installed)', async () => {
    const home = await mkdtemp(join(tmpdir(), 'iicp-official-env-'))
    cleanup.push(() => rm(home, { recursive: true, force: true }))
    await writeFile(join(home, 'update-check.json'), JSON.stringify({ checked_at_ms: Date.now(), latest: '99.0.0' }))
    // A registry nothing listens on: the cache is fresh, so none is asked anyway.
    const env = { IICP_HOME: home, IICP_UPDATE_REGISTRY: `http://127.0.0.1:${await closedPort()}` }
    const on = ttyIo({ ...env, IICP_AUTO_UPDATE: '1' })
    expect(await main(['node', 'iicp', '--version'], on)).toBe(0)
    expect(on.err()).toContain('notice: @iicp/cli 99.0.0 is available')
    const off = ttyIo({ ...env, IICP_AUTO_UPDATE: '0' })
    expect(await main(['node', 'iicp', '--version'], off)).toBe(0)
    expect(off.err()).toBe('')
  })
})
