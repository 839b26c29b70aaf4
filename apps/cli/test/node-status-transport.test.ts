/**
 * What this proves, in-process through `main()` against the real in-repo directory and real nodes on loopback:
 * `iicp node status` and `iicp doctor` show the native `transport_endpoint` (`iicp://…`) the directory lists for the
 * node instead of "(no transport declared)", say "none advertised" for a node that advertises none, and show a
 * relay-capable node's `relay_accept_port` (official-sdks.md §5.1, §6.2).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import type { NodeOptions } from '@iicp/node'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import type { NodeStatusReport } from '../src/commands/doctor.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function bufferIo(): CliIo & { out: () => string } {
  let out = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write(chunk: Buffer | string, _e, cb) { append(chunk.toString()); cb() } })
  return { stdout: sink((s) => (out += s)), stderr: sink(() => undefined), env: { NO_COLOR: '1', PATH: '' }, out: () => out }
}

const argv = (...args: string[]): string[] => ['node', 'iicp', ...args]

async function setup(extra: Partial<NodeOptions>): Promise<{ d: RunningDirectory; home: string; node: IicpNode }> {
  const d = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
  cleanup.push(() => d.close())
  const home = await mkdtemp(join(tmpdir(), 'iicp-status-transport-'))
  cleanup.push(() => rm(home, { recursive: true, force: true }))
  const node = new IicpNode({ directoryUrl: d.apiUrl, home, host: '127.0.0.1', port: 0, cx: false, backend: echo(), ...extra } as NodeOptions)
  cleanup.push(() => node.close())
  await node.serve()
  return { d, home, node }
}

async function status(home: string, node: IicpNode): Promise<{ json: NodeStatusReport; human: string }> {
  const io = bufferIo()
  expect(await main(argv('node', 'status', '--json', '--home', home, '--node', node.url as string), io)).toBe(0)
  const human = bufferIo()
  expect(await main(argv('node', 'status', '--home', home, '--node', node.url as string), human)).toBe(0)
  return { json: JSON.parse(io.out()) as NodeStatusReport, human: human.out() }
}

describe('node status and doctor show the native transport', { timeout: 60_000 }, () => {
  it('shows the iicp:// transport_endpoint the directory lists, not "no transport declared"', async () => {
    const { d, home, node } = await setup({})
    const native = `iicp://127.0.0.1:${String(node.port)}`
    const r = await status(home, node)
    expect(r.json.directory).toMatchObject({ listed: true, endpoint: node.url, transport_endpoint: native, relay_capable: false, relay_accept_port: null })
    expect(r.human).toContain(`native      ${native}`)
    expect(r.human).not.toContain('no transport declared')
    expect(r.human).not.toMatch(/^relay /m)

    const doc = bufferIo()
    await main(argv('doctor', '--json', '--directory', d.apiUrl, '--home', home, '--node', node.url as string, '--host', '127.0.0.1', '--port', String(node.port)), doc)
    const checks = (JSON.parse(doc.out()) as { checks: Array<{ id: string; summary: string }> }).checks
    expect(checks.find((c) => c.id === 'node')?.summary).toBe(`node ${node.nodeId} is listed as ${node.url as string} and ${native}`)
  })

  it('says none is advertised when the node advertises no transport_endpoint', async () => {
    const { home, node } = await setup({ native: { advertise: false } })
    const r = await status(home, node)
    expect(r.json.directory.transport_endpoint).toBeNull()
    expect(r.human).toContain('native      none advertised (HTTP only)')
  })

  it("shows a relay-capable node's relay_accept_port", async () => {
    const { home, node } = await setup({ relayCapable: true, relayAcceptPort: 0 })
    const r = await status(home, node)
    const accept = r.json.directory.relay_accept_port
    expect(accept).toEqual(expect.any(Number))
    expect(accept).not.toBe(node.port)
    expect(r.json.directory.relay_capable).toBe(true)
    expect(r.human).toContain(`relay       accepts workers on TCP port ${String(accept)} and over HTTP/WebSocket at ${node.url as string}`)
  })
})
