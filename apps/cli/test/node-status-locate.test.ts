/**
 * `iicp node status` and `iicp doctor` find a node that listens outside the CLI's 9484–9490 band (started with
 * `--port 0`): without --node they ask the directory where the state file's node is listed and probe that
 * endpoint, but only when it is on loopback, so a running node is never reported down. In-process through
 * `main()` against a real in-repo directory and a real node.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { bandBase, statusCandidates } from '../src/commands/doctor.js'
import type { NodeStatusReport } from '../src/commands/doctor.js'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'
import { closedPort } from './run-cli.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function bufferIo(env: Record<string, string> = {}): CliIo & { out: () => string } {
  let out = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write(chunk: Buffer | string, _e, cb) { append(chunk.toString()); cb() } })
  return { stdout: sink((s) => (out += s)), stderr: sink(() => undefined), env: { NO_COLOR: '1', ...env }, out: () => out }
}

const BAND = ['9484', '9485', '9486', '9487', '9488', '9489', '9490'].map((p) => `http://127.0.0.1:${p}`)

// The band starts at IICP_PORT: a released ephemeral port here, so nodes other tests run on 9484… (or a program
// there that accepts and never answers) cannot stand in for the node under test.
const freeBand = closedPort

async function setup(deregisterOnClose = true): Promise<{ dir: RunningDirectory; home: string; node: IicpNode }> {
  const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0 })
  cleanup.push(() => dir.close())
  const home = await mkdtemp(join(tmpdir(), 'iicp-status-'))
  cleanup.push(() => rm(home, { recursive: true, force: true }))
  const node = new IicpNode({ directoryUrl: dir.apiUrl, home, host: '127.0.0.1', port: 0, cx: false, backend: echo(), deregisterOnClose })
  cleanup.push(() => node.close())
  await node.serve()
  return { dir, home, node }
}

describe('locating a node off the port band', () => {
  it('node status finds a --port 0 node at the endpoint the directory lists for its state file, and exits 0', async () => {
    const { dir, home, node } = await setup()
    expect(BAND).not.toContain(node.url)
    const io = bufferIo({ IICP_PORT: String(await freeBand()) })
    expect(await main(['node', 'iicp', 'node', 'status', '--json', '--home', home], io)).toBe(0)
    const r = JSON.parse(io.out()) as NodeStatusReport
    expect(r.node).toMatchObject({ url: node.url, reachable: true, node_id: node.nodeId, registered: true })
    expect(r.directory).toMatchObject({ url: dir.apiUrl, listed: true, endpoint: node.url })
    expect(r.advice).toEqual([])
  })

  it('doctor passes its node check for the same node without --node', async () => {
    const { home, node } = await setup()
    const io = bufferIo({ PATH: '', IICP_PORT: String(await freeBand()) })
    expect(await main(['node', 'iicp', 'doctor', '--json', '--home', home, '--host', '127.0.0.1', '--port', '0'], io)).toBe(0)
    const r = JSON.parse(io.out()) as { ok: boolean; checks: Array<{ id: string; status: string; summary: string }>; status: NodeStatusReport }
    expect(r.checks.find((c) => c.id === 'node')).toEqual({ id: 'node', status: 'ok', summary: `node ${node.nodeId} is listed as ${String(node.url)} and iicp://127.0.0.1:${String(node.port)}` })
    expect(r.status.node.url).toBe(node.url)
    expect(r.ok).toBe(true)
  })

  it('says where it looked when the listed node has stopped, and exits 1', async () => {
    const { home, node } = await setup(false)
    const url = String(node.url)
    await node.close()
    const base = await freeBand()
    const io = bufferIo({ IICP_PORT: String(base) })
    expect(await main(['node', 'iicp', 'node', 'status', '--json', '--home', home], io)).toBe(1)
    const r = JSON.parse(io.out()) as NodeStatusReport
    expect(r.node).toEqual({ url: null, reachable: false })
    expect(r.advice[0]).toBe(`No node answers on 127.0.0.1:${base}-${base + 6} or at ${url}, where the directory lists it: start one with \`iicp node serve\`, or pass --node <url>.`)
  })
})

describe('statusCandidates', () => {
  it('starts the band at IICP_PORT when it names a port, else at 9484', () => {
    expect(bandBase({ IICP_PORT: '9600' })).toBe(9600)
    expect(statusCandidates(undefined, null, 9600)).toEqual(['9600', '9601', '9602', '9603', '9604', '9605', '9606'].map((p) => `http://127.0.0.1:${p}`))
    for (const v of [undefined, '', '0', 'abc', '70000', '65535']) expect(bandBase({ IICP_PORT: v })).toBe(9484)
  })

  it('adds a loopback endpoint the directory lists after the band', () => {
    expect(statusCandidates(undefined, 'http://127.0.0.1:40123/')).toEqual([...BAND, 'http://127.0.0.1:40123'])
    expect(statusCandidates(undefined, 'http://[::1]:40123')).toEqual([...BAND, 'http://[::1]:40123'])
    expect(statusCandidates(undefined, 'http://localhost:40123')).toEqual([...BAND, 'http://localhost:40123'])
  })

  it('never adds an endpoint off this machine, a band port twice, or anything beside --node', () => {
    expect(statusCandidates(undefined, 'http://192.0.2.10:9484')).toEqual(BAND)
    expect(statusCandidates(undefined, 'https://node.example.org')).toEqual(BAND)
    expect(statusCandidates(undefined, 'not a url')).toEqual(BAND)
    expect(statusCandidates(undefined, 'http://127.0.0.1:9485')).toEqual(BAND)
    expect(statusCandidates(undefined, null)).toEqual(BAND)
    expect(statusCandidates('http://127.0.0.1:5000/', 'http://127.0.0.1:40123')).toEqual(['http://127.0.0.1:5000'])
  })
})
