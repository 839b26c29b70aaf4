/**
 * What this proves: the "newer version" notice compares versions correctly, stays silent on --json, off a
 * terminal, in CI and with IICP_NO_UPDATE_NOTICE=1, asks a (loopback, fake) registry at most once a day,
 * never makes a command wait for the registry (the first run only fills the cache), and is printed on
 * stderr by `main()` from the cache. No test contacts a real registry.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { CHECK_INTERVAL_MS, compareVersions, noticeEnabled, registryUrl, startUpdateNotice } from '../src/update-notice.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function fakeRegistry(latest: string): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ latest, next: '9.0.0-rc.1' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

async function tempHome(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'iicp-update-'))
  cleanup.push(() => rm(d, { recursive: true, force: true }))
  return d
}

function ttyIo(env: Record<string, string>): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write(c: Buffer | string, _e, cb) { append(c.toString()); cb() } })
  const stderr = Object.assign(sink((s) => (err += s)), { isTTY: true })
  return { stdout: sink((s) => (out += s)), stderr, env: { NO_COLOR: '1', ...env }, out: () => out, err: () => err }
}

describe('update notice', () => {
  it('compares versions, prereleases before their release', () => {
    expect(compareVersions('0.2.0', '0.1.9')).toBeGreaterThan(0)
    expect(compareVersions('0.10.0', '0.9.0')).toBeGreaterThan(0)
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0)
    expect(compareVersions('v1.2.3', '1.2.3')).toBe(0)
  })

  it('stays off for --json, off a terminal, in CI, under NODE_ENV=test and with IICP_NO_UPDATE_NOTICE=1', () => {
    expect(noticeEnabled({}, false, true)).toBe(true)
    expect(noticeEnabled({}, true, true)).toBe(false)
    expect(noticeEnabled({}, false, false)).toBe(false)
    expect(noticeEnabled({ CI: 'true' }, false, true)).toBe(false)
    expect(noticeEnabled({ NODE_ENV: 'test' }, false, true)).toBe(false)
    expect(noticeEnabled({ IICP_NO_UPDATE_NOTICE: '1' }, false, true)).toBe(false)
    expect(noticeEnabled({ IICP_NO_UPDATE_NOTICE: '0' }, false, true)).toBe(true)
  })

  it('asks only https registries (http on loopback), defaulting to the public one', () => {
    expect(registryUrl({})).toBe('https://registry.npmjs.org')
    expect(registryUrl({ IICP_UPDATE_REGISTRY: 'http://registry.example' })).toBeUndefined()
    expect(registryUrl({ npm_config_registry: 'http://127.0.0.1:4873/' })).toBe('http://127.0.0.1:4873')
  })

  it('fills a daily cache in the background on the first run and shows the notice from it afterwards', async () => {
    const reg = await fakeRegistry('0.2.0')
    const home = await tempHome()
    const env = { IICP_HOME: home, IICP_UPDATE_REGISTRY: reg.url }
    let now = 1_800_000_000_000
    const first = startUpdateNotice({ env, current: '0.1.0', json: false, stderrIsTty: true, now: () => now })
    await first.ready
    expect(first.message()).toBeUndefined()
    await first.settled
    expect(reg.hits).toEqual(['/-/package/@iicp%2fcli/dist-tags'])
    expect(JSON.parse(await readFile(join(home, 'update-check.json'), 'utf8'))).toEqual({ checked_at_ms: now, latest: '0.2.0' })

    const second = startUpdateNotice({ env, current: '0.1.0', json: false, stderrIsTty: true, now: () => now })
    await second.settled
    expect(second.message()).toContain('@iicp/cli 0.2.0 is available (you have 0.1.0)')
    expect(reg.hits).toHaveLength(1)
    const same = startUpdateNotice({ env, current: '0.2.0', json: false, stderrIsTty: true, now: () => now })
    await same.settled
    expect(same.message()).toBeUndefined()

    now += CHECK_INTERVAL_MS
    await startUpdateNotice({ env, current: '0.1.0', json: false, stderrIsTty: true, now: () => now }).settled
    expect(reg.hits).toHaveLength(2)
  })

  it('is printed on stderr by main() from the cache, and never with --json or IICP_NO_UPDATE_NOTICE=1', async () => {
    const reg = await fakeRegistry('0.2.0')
    const home = await tempHome()
    await writeFile(join(home, 'update-check.json'), JSON.stringify({ checked_at_ms: Date.now(), latest: '99.0.0' }))
    const env = { IICP_HOME: home, IICP_UPDATE_REGISTRY: reg.url }
    const io = ttyIo(env)
    expect(await main(['node', 'iicp', '--version'], io)).toBe(0)
    expect(io.err()).toContain('notice: @iicp/cli 99.0.0 is available')
    expect(io.out()).not.toContain('notice')
    const json = ttyIo(env)
    await main(['node', 'iicp', 'discover', 'llm:chat:v1', '--limit', '99', '--json'], json)
    expect(json.err() + json.out()).not.toContain('notice')
    const off = ttyIo({ ...env, IICP_NO_UPDATE_NOTICE: '1' })
    await main(['node', 'iicp', '--version'], off)
    expect(off.err()).toBe('')
    expect(reg.hits).toEqual([])
  })
})
