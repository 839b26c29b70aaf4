/**
 * `iicp nat detect` in-process against buffer streams: it prints the tier, every rung tried and the advice,
 * as text or as one JSON document, and a busy port is a clean JSON failure. Only the operator overrides are
 * exercised here (they decide before any gateway is asked, so no packet leaves the machine); the full
 * ladder runs against real miniupnpd in nat-netns.test.ts (this command, as a child process in a LAN
 * namespace), packages/nat and packages/node. Also holds the NAT defaults of
 * `iicp node serve`: detection on unless IICP_AUTO_DETECT_NAT=false, relays pinned from the environment.
 */
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { natServeOptions } from '../src/commands/nat.js'

function bufferIo(env: Record<string, string>): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      append(chunk.toString())
      cb()
    },
  })
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1', ...env }, out: () => out, err: () => err }
}

const detect = (...args: string[]): string[] => ['node', 'iicp', 'nat', 'detect', '--directory', 'http://127.0.0.1:9/api', '--port', '0', ...args]

describe('iicp nat detect', () => {
  it('reports tier 4 with what was skipped and what to set when detection is off', async () => {
    const io = bufferIo({ IICP_AUTO_DETECT_NAT: 'false' })
    expect(await main(detect('--json'), io)).toBe(0)
    const r = JSON.parse(io.out()) as Record<string, unknown>
    expect(r).toMatchObject({ tier: '4', exposure_mode: 'outbound_only', endpoint: null, relay: null })
    expect(r.tried).toEqual([{ step: 'auto_detect', outcome: 'skipped', detail: 'IICP_AUTO_DETECT_NAT=false: no detection ran' }])
    expect((r.advice as string[]).join(' ')).toMatch(/IICP_PUBLIC_ENDPOINT or IICP_RELAY_WORKER_ENDPOINT/)
    expect(io.out().trim().split('\n')).toHaveLength(1)
  })

  it('prints tier 3 through the pinned relay, the rung tried and no advice, for people', async () => {
    const io = bufferIo({ IICP_RELAY_WORKER_ENDPOINT: 'relay.example.org:9484' })
    expect(await main(detect(), io)).toBe(0)
    expect(io.out()).toBe([
      'tier 3 (relay_required)',
      'serve through the relay relay.example.org:9484',
      '',
      'tried',
      '  ✔ relay_worker_endpoint: IICP_RELAY_WORKER_ENDPOINT names relay.example.org:9484; no relay is elected',
      '',
    ].join('\n'))
  })

  it('fails as JSON when the port to check is taken', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '0.0.0.0', resolve))
    const port = (busy.address() as { port: number }).port
    try {
      const io = bufferIo({ IICP_AUTO_DETECT_NAT: 'false' })
      const code = await main(['node', 'iicp', 'nat', 'detect', '--directory', 'http://127.0.0.1:9/api', '--port', String(port), '--json'], io)
      // The machine's state, not the command line: exit 1 (failure), never 2 (usage).
      expect(code).toBe(1)
      const body = JSON.parse(io.out()) as { error: { code: string; message: string } }
      expect(body.error.message).toContain(`port ${port}`)
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()))
    }
  })
})

describe('natServeOptions (iicp node serve)', () => {
  it('turns NAT detection on by default and passes the environment for the container check', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1' }
    expect(natServeOptions(env)).toEqual({ reachability: 'auto', nat: { env } })
  })

  it('leaves detection off with IICP_AUTO_DETECT_NAT=false and pins a relay from IICP_RELAY_WORKER_ENDPOINT', () => {
    const env = { IICP_AUTO_DETECT_NAT: 'false', IICP_RELAY_WORKER_ENDPOINT: 'relay.example.org:9484', IICP_RELAY_CAPABLE: '1' }
    expect(natServeOptions(env)).toEqual({ nat: { env }, relay: { endpoint: 'relay.example.org:9484' }, relayCapable: true })
  })
})
