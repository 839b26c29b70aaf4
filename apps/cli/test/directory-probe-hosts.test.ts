/**
 * `iicp directory serve --probe-hosts` / IICP_DIRECTORY_PROBE_HOSTS (issue 3): which node endpoints the
 * registration liveness probe may contact. The default stays loopback in local mode, so a LAN endpoint is refused
 * with a 422 naming the scope and the flag's value; `private` widens it. Nothing here sends a packet beyond
 * loopback: every non-loopback registration is one the scope refuses before any connection or DNS lookup.
 */
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import { request } from 'undici'
import { directoryServeOptions } from '../src/commands/directory.js'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { finished, spawnCli, waitForJsonLine } from './run-cli.js'

const SLOW = 90_000
const flags = { port: 0, host: '127.0.0.1', mode: 'local' as const }

async function register(apiUrl: string, endpoint: string): Promise<{ status: number; error: { code: string; message: string; fields?: Record<string, string[]> } }> {
  const body = {
    endpoint, region: 'local', capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['m'] }], limits: { max_concurrent: 1, tokens_per_min: 100 },
  }
  const res = await request(`${apiUrl}/v1/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = (await res.body.json()) as { error: { code: string; message: string; fields?: Record<string, string[]> } }
  return { status: res.statusCode, error: json.error }
}

describe('directoryServeOptions probeHosts', () => {
  it('is left to the directory default without flag or variable', () => {
    expect(directoryServeOptions(flags, {})).not.toHaveProperty('probeHosts')
  })

  it('reads IICP_DIRECTORY_PROBE_HOSTS, and the flag wins over it', () => {
    expect(directoryServeOptions(flags, { IICP_DIRECTORY_PROBE_HOSTS: 'private' })).toMatchObject({ probeHosts: 'private' })
    expect(directoryServeOptions({ ...flags, probeHosts: 'loopback' }, { IICP_DIRECTORY_PROBE_HOSTS: 'private' })).toMatchObject({ probeHosts: 'loopback' })
  })

  it('rejects an unknown scope in the variable with invalid_config naming it', () => {
    expect(() => directoryServeOptions(flags, { IICP_DIRECTORY_PROBE_HOSTS: 'lan' })).toThrow(expect.objectContaining({
      code: 'invalid_config', message: expect.stringContaining('IICP_DIRECTORY_PROBE_HOSTS') as unknown,
    }))
  })

  it('makes an unknown --probe-hosts value a usage error (exit 2)', async () => {
    let err = ''
    const sink = (append: (s: string) => void): Writable => new Writable({ write(chunk: Buffer | string, _e, cb) { append(chunk.toString()); cb() } })
    const io: CliIo = { stdout: sink(() => undefined), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1' } }
    expect(await main(['node', 'iicp', 'directory', 'serve', '--port', '0', '--probe-hosts', 'lan'], io)).toBe(2)
    expect(err).toContain('--probe-hosts')
  })
})

describe('the probe scope of a local directory', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })

  it('refuses a LAN endpoint by default with 422 liveness_failed naming the loopback scope', async () => {
    const dir = await startDirectory({ ...directoryServeOptions(flags, {}), pruneIntervalMs: 0 })
    open.push(dir)
    const r = await register(dir.apiUrl, 'http://192.168.1.10:9484')
    expect(r.status).toBe(422)
    expect(r.error.code).toBe('liveness_failed')
    expect(r.error.fields?.endpoint?.[0]).toBe('endpoint unreachable from directory: address class private is outside the probe scope (loopback)')
  })

  it('serves with --probe-hosts private (winning over the variable) and says so; documentation-range and named hosts stay refused', { timeout: SLOW }, async () => {
    const child = spawnCli(['directory', 'serve', '--port', '0', '--json', '--probe-hosts', 'private'], { IICP_DIRECTORY_PROBE_HOSTS: 'loopback' })
    const done = finished(child)
    try {
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(ready.probe_hosts).toBe('private')
      const api = String(ready.api_url)
      const pub = await register(api, 'http://203.0.113.5:9484')
      expect(pub.error.fields?.endpoint?.[0]).toBe('endpoint unreachable from directory: address class reserved is outside the probe scope (private)')
      const named = await register(api, 'http://printer.lan:9484')
      expect(named.error.fields?.endpoint?.[0]).toBe('endpoint unreachable from directory: host names other than localhost are outside the probe scope (private)')
    } finally {
      child.kill('SIGINT')
    }
    expect((await done).code).toBe(0)
  })
})
