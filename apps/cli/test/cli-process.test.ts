/**
 * The CLI as users meet it: a child process started like `pnpm iicp`. Proves that `mesh --demo` routes a
 * real chat end to end and exits 0, that `discover --json` prints parseable JSON about a directory and node
 * this test starts, that consumer commands follow the client's IICP_* variables (route discovery, selection,
 * transport, plaintext, consumer auth), that bad flags and bad variables exit 2 with a usage line, that an unreachable directory exits 1 with one
 * clear line, and that long-running commands shut down cleanly on SIGINT (nodes deregister).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import OpenAI from 'openai'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { closedPort, finished, runCli, spawnCli, waitForJsonLine } from './run-cli.js'

const HEX32 = /^[0-9a-f]{32}$/
// Each case starts Node + tsx at least once on a shared 2-core machine; generous, never asserted on.
const SLOW = 90_000

describe('iicp mesh --demo', { timeout: SLOW }, () => {
  it('starts a local mesh, routes one chat and prints the reply and its route, then exits 0', async () => {
    const run = await runCli(['mesh', '--demo'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('reply  echo: Hello from the IICP mesh')
    expect(run.stdout).toMatch(/route {2}node [0-9a-f-]{36} {2}at http:\/\/127\.0\.0\.1:\d+ {2}attempts 1 {2}trace [0-9a-f]{32} {2}latency [\d.]+ ms/)
    expect(run.stderr).toContain('local mesh up')
    expect(run.stderr).not.toMatch(/at .*\.ts:\d+/)
  })

  it('prints only one JSON document with --json: reply, route and the mesh it ran on', async () => {
    const run = await runCli(['mesh', '--demo', '--json', '--prompt', 'ping', '--node-port', '0'])
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const doc = JSON.parse(lines[0] as string) as {
      reply: string; discovered: number
      route: { node_id: string; attempts: number; trace_id: string; latency_ms: number; endpoint: string }
      mesh: { directory: string; nodes: { node_id: string; endpoint: string }[] }
    }
    expect(doc.reply).toBe('echo: ping')
    expect(doc.discovered).toBe(2)
    expect(doc.mesh.nodes).toHaveLength(2)
    expect(doc.mesh.nodes.map((n) => n.node_id)).toContain(doc.route.node_id)
    expect(doc.route.attempts).toBe(1)
    expect(doc.route.trace_id).toMatch(HEX32)
    expect(doc.route.latency_ms).toBeGreaterThan(0)
    expect(doc.mesh.directory).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/)
    expect(run.stderr).toBe('')
  })
})

describe('iicp mesh --backend openai', { timeout: SLOW }, () => {
  it('runs a node in front of an OpenAI-compatible server and routes the demo chat to it', async () => {
    const seen: { model: unknown; content: unknown }[] = []
    // A small real OpenAI-style server standing in for Ollama or vLLM.
    const upstream = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        if (req.method === 'GET' && req.url === '/v1/models') {
          res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-1', object: 'model', created: 0, owned_by: 'test' }] }))
          return
        }
        if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
          res.writeHead(404).end(JSON.stringify({ error: { message: 'not here', type: 'invalid_request_error', param: null, code: null } }))
          return
        }
        const parsed = JSON.parse(body) as { model: unknown; messages: { content: unknown }[] }
        seen.push({ model: parsed.model, content: parsed.messages[0]?.content })
        res.end(JSON.stringify({
          id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: 'fake-1',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello from upstream' }, finish_reason: 'stop' }],
        }))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    try {
      const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
      const run = await runCli(['mesh', '--demo', '--json', '--node-port', '0', '--backend', 'openai', '--base-url', base, '--model', 'fake-1'])
      expect(run.code).toBe(0)
      const doc = JSON.parse(run.stdout) as { reply: string; discovered: number; mesh: { nodes: { backend: string; models: string[] }[] } }
      expect(doc.reply).toBe('hello from upstream')
      expect(doc.discovered).toBe(1)
      expect(doc.mesh.nodes).toEqual([expect.objectContaining({ backend: 'openai', models: ['fake-1'] })])
      expect(seen).toEqual([{ model: 'fake-1', content: 'Hello from the IICP mesh' }])
    } finally {
      await new Promise<void>((resolve) => upstream.close(() => resolve()))
    }
  })
})

// Served only by a node without an IICP-CX key, so the client must be allowed plaintext to reach it.
const PLAIN_INTENT = 'urn:iicp:intent:x.cli-test:plain:v1'

describe('consumer commands against a directory and node this test starts', { timeout: SLOW }, () => {
  let dir: RunningDirectory
  let node: IicpNode
  let plain: IicpNode

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo(), host: '127.0.0.1', port: 0, persistState: false, region: 'local' })
    await node.serve()
    expect(node.isRegistered).toBe(true)
    plain = new IicpNode({
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false, cx: false,
      capabilities: [{ intent: PLAIN_INTENT, models: ['plain-1'] }], handler: () => ({ plain: true }),
    })
    await plain.serve()
    expect(plain.isRegistered).toBe(true)
  })
  afterAll(async () => {
    await plain.close()
    await node.close()
    await dir.close()
  })

  it('discover --json prints the node list as JSON on stdout and nothing else', async () => {
    const run = await runCli(['discover', 'urn:iicp:intent:llm:chat:v1', '--directory', dir.apiUrl, '--json'])
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as { count: number; intent: string; nodes: { node_id: string; endpoint: string; models: string[]; cx: boolean }[] }
    expect(doc.intent).toBe('urn:iicp:intent:llm:chat:v1')
    expect(doc.count).toBe(1)
    expect(doc.nodes[0]).toMatchObject({ node_id: node.nodeId, endpoint: node.endpoint, models: ['echo-1'], cx: true })
    expect(run.stderr).toBe('')
  })

  it('discover takes the short intent form and the directory from IICP_DIRECTORY_URL, and prints a table', async () => {
    const run = await runCli(['discover', 'llm:chat:v1'], { IICP_DIRECTORY_URL: dir.apiUrl })
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(node.nodeId)
    expect(run.stdout).toContain('1 node(s) for urn:iicp:intent:llm:chat:v1')
  })

  it('chat prints the reply and the route through the node', async () => {
    const run = await runCli(['chat', 'hello there', '--directory', dir.apiUrl])
    expect(run.code).toBe(0)
    expect(run.stdout.split('\n')[0]).toBe('echo: hello there')
    expect(run.stdout).toContain(`node ${node.nodeId}`)
  })

  it('submit reads the payload from @file and prints the result as JSON', async () => {
    const home = await mkdtemp(join(tmpdir(), 'iicp-cli-'))
    try {
      const file = join(home, 'payload.json')
      await writeFile(file, JSON.stringify({ prompt: 'complete me' }))
      const run = await runCli(['submit', 'llm:completion:v1', '--payload', `@${file}`, '--directory', dir.apiUrl, '--json'])
      expect(run.code).toBe(0)
      const doc = JSON.parse(run.stdout) as { result: { choices: { text: string }[] }; route: { node_id: string } }
      expect(doc.result.choices[0]?.text).toBe('complete me')
      expect(doc.route).toMatchObject({ node_id: node.nodeId, route_source: 'ticket', selection: 'epsilon', transport: 'http', encrypted: true })
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })

  it("chat follows the client's IICP_* variables: legacy discovery, deterministic selection, native transport", async () => {
    const run = await runCli(['chat', 'routed by env', '--directory', dir.apiUrl, '--json'], {
      IICP_ROUTE_DISCOVERY_MODE: 'legacy', IICP_ROUTING_STRATEGY: 'deterministic', IICP_TRANSPORT: 'native',
    })
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as { reply: string; route: Record<string, unknown> }
    expect(doc.reply).toBe('echo: routed by env')
    expect(doc.route).toMatchObject({ node_id: node.nodeId, route_source: 'discover', selection: 'deterministic', transport: 'native' })
  })

  it('submit reaches a node without an IICP-CX key only when IICP_CX_ALLOW_PLAINTEXT=1', async () => {
    const refused = await runCli(['submit', PLAIN_INTENT, '--payload', '{"q":1}', '--directory', dir.apiUrl, '--json'])
    expect(refused.code).toBe(1)
    expect((JSON.parse(refused.stdout) as { error: { code: string } }).error.code).toBe('IICP-CX-REQUIRED')
    const run = await runCli(['submit', PLAIN_INTENT, '--payload', '{"q":1}', '--directory', dir.apiUrl, '--json'], { IICP_CX_ALLOW_PLAINTEXT: '1' })
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as { result: unknown; route: Record<string, unknown> }
    expect(doc.result).toEqual({ plain: true })
    expect(doc.route).toMatchObject({ node_id: plain.nodeId, encrypted: false })
  })
})

describe('iicp conformance', { timeout: SLOW }, () => {
  it('mounts the conformance runner: one requirement against a local mesh, as its JSON run document', async () => {
    const run = await runCli(['conformance', '--only', 'SDK-01', '--json'])
    expect(run.code).toBe(0)
    const body = JSON.parse(run.stdout) as { verdict: string; documents: { schema: string; results: { test_id: string; outcome: string }[] }[] }
    expect(body.verdict).toBe('conformant')
    const docs = body.documents
    expect(docs[0]?.schema).toBe('iicp.conformance_result.v1')
    expect(docs[0]?.results).toEqual([expect.objectContaining({ test_id: 'SDK-01', outcome: 'pass' })])
  })
})

describe('usage errors exit 2 with a usage line', { timeout: SLOW }, () => {
  it('rejects an unknown flag with its error and the command usage', async () => {
    const run = await runCli(['discover', 'llm:chat:v1', '--bogus'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr.trim().split('\n')).toEqual(["error: unknown option '--bogus'", 'usage: iicp discover [options] <intent>'])
  })

  it('rejects a value outside the choices, naming the flag', async () => {
    const run = await runCli(['chat', 'hi', '--qos', 'fast'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("option '--qos <class>' argument 'fast' is invalid")
    expect(run.stderr).toContain('usage: iicp chat [options] <prompt>')
  })

  it('rejects a bad IICP_ROUTING_STRATEGY before any request, naming the variable', async () => {
    const run = await runCli(['discover', 'llm:chat:v1', '--directory', 'http://127.0.0.1:9/api'], { IICP_ROUTING_STRATEGY: 'fastest' })
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toEqual([
      'error: IICP_ROUTING_STRATEGY: selection must be one of deterministic, epsilon, softmax_top_k, weighted_v1, directory_order',
      'usage: iicp discover [options] <intent>',
    ])
  })

  it('makes proxy refuse IICP_CONSUMER_AUTH_MODE=required without IICP_NODE_TOKEN before it listens', async () => {
    const run = await runCli(['proxy', '--port', '0', '--directory', 'http://127.0.0.1:9/api', '--json'], { IICP_CONSUMER_AUTH_MODE: 'required' })
    expect(run.code).toBe(2)
    const body = JSON.parse(run.stdout) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('usage_error')
    expect(body.error.message).toBe("IICP_CONSUMER_AUTH_MODE: consumerAuthMode must be 'optional' or 'disabled' without a nodeToken; 'required' needs the caller's node token")
  })

  it('reports a usage error as JSON on stdout with --json', async () => {
    const run = await runCli(['submit', 'llm:chat:v1', '--payload', '{not json', '--json'])
    expect(run.code).toBe(2)
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'usage_error', message: '--payload: the value is not valid JSON', hint: 'usage: iicp submit [options] <intent>' } })
  })
})

describe('an unreachable directory', { timeout: SLOW }, () => {
  it('exits 1 with one line that suggests --directory or iicp mesh', async () => {
    const port = await closedPort()
    const run = await runCli(['discover', 'llm:chat:v1', '--directory', `http://127.0.0.1:${port}/api`])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    const lines = run.stderr.trim().split('\n')
    expect(lines).toEqual([
      `error: cannot reach the IICP directory at http://127.0.0.1:${port}/api (connection refused); point --directory at a running directory, or start a local mesh with \`iicp mesh\``,
    ])
  })

  it('gives chat the same one-line answer, as JSON with --json', async () => {
    const port = await closedPort()
    const run = await runCli(['chat', 'hi', '--directory', `http://127.0.0.1:${port}`, '--json'])
    expect(run.code).toBe(1)
    const doc = JSON.parse(run.stdout) as { error: { code: string; message: string } }
    expect(doc.error.code).toBe('directory_unreachable')
    expect(doc.error.message).toContain('iicp mesh')
    expect(run.stderr).toBe('')
  })
})

describe('a --directory that is not an IICP directory', { timeout: SLOW }, () => {
  it('exits 1 with one line saying so and what --directory expects', async () => {
    const web = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' })
      res.end('<html>not here</html>')
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(web.address() as AddressInfo).port}/api`
    try {
      const run = await runCli(['discover', 'llm:chat:v1', '--directory', url])
      expect(run.code).toBe(1)
      expect(run.stderr.trim().split('\n')).toEqual([
        `error: ${url} did not answer like an IICP directory (HTTP 404 with a non-JSON body); --directory takes the API base, e.g. http://127.0.0.1:9480/api`,
      ])
    } finally {
      await new Promise<void>((resolve) => web.close(() => resolve()))
    }
  })
})

describe('a node that is listed but gone', { timeout: SLOW }, () => {
  it('makes chat exit 1 with one line naming the node that failed and how', async () => {
    const dir = await startDirectory({ port: 0 })
    const node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo(), host: '127.0.0.1', port: 0, persistState: false, deregisterOnClose: false })
    await node.serve()
    await node.close()
    try {
      expect(dir.directory.activeNodeCount).toBe(1)
      const run = await runCli(['chat', 'anyone?', '--directory', dir.apiUrl, '--timeout', '10s'])
      expect(run.code).toBe(1)
      const lines = run.stderr.trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^error: .*; tried [0-9a-f]{8} \(connection_failed( ×\d)?\)$/)
    } finally {
      await dir.close()
    }
  })
})

describe('a taken port', { timeout: SLOW }, () => {
  it('makes directory serve exit 1 with one line naming the port and the flag to change', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as AddressInfo).port
    try {
      const run = await runCli(['directory', 'serve', '--port', String(port)])
      expect(run.code).toBe(1)
      expect(run.stderr.trim().split('\n')).toEqual([`error: Directory cannot listen on 127.0.0.1:${port} (EADDRINUSE); choose another with --port`])
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()))
    }
  })
})

describe('long-running commands stop cleanly on SIGINT', { timeout: SLOW }, () => {
  it('node serve registers, then drains and deregisters on Ctrl-C and exits 0', async () => {
    const dir = await startDirectory({ port: 0 })
    const home = await mkdtemp(join(tmpdir(), 'iicp-cli-'))
    try {
      const child = spawnCli(['node', 'serve', '--directory', dir.apiUrl, '--host', '127.0.0.1', '--port', '0', '--json'], { IICP_HOME: home })
      const done = finished(child)
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(dir.directory.activeNodeCount).toBe(1)
      expect(ready.backend).toBe('echo')
      child.kill('SIGINT')
      const run = await done
      expect(run.code).toBe(0)
      expect(dir.directory.nodeCount).toBe(0)
      // In the order they happen: the node listens before it registers (the directory probes /iicp/health).
      const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(events.map((e) => e.event)).toEqual(['listening', 'registered', 'ready', 'closed'])
      expect(events[0]).toMatchObject({ url: ready.url, host: '127.0.0.1', backend: 'echo' })
      expect(events[0]?.port).toBe(Number(new URL(String(ready.url)).port))
    } finally {
      await dir.close()
      await rm(home, { recursive: true, force: true })
    }
  })

  it('node serve takes every flag from IICP_* variables', async () => {
    const dir = await startDirectory({ port: 0 })
    const home = await mkdtemp(join(tmpdir(), 'iicp-cli-'))
    const port = await closedPort()
    try {
      const child = spawnCli(['node', 'serve', '--json'], {
        IICP_HOME: home, IICP_DIRECTORY_URL: dir.apiUrl, IICP_HOST: '127.0.0.1', IICP_PORT: String(port),
        IICP_PUBLIC_ENDPOINT: `http://127.0.0.1:${port}/`, IICP_REGION: 'eu-test', IICP_BACKEND: 'echo', IICP_MODEL: 'env-model',
        IICP_MAX_CONCURRENT: '2', IICP_NODE_NAME: 'from-env',
      })
      const done = finished(child)
      await waitForJsonLine(child, (v) => v.event === 'ready')
      const run = await runCli(['discover', 'llm:chat:v1', '--directory', dir.apiUrl, '--json'])
      const listed = (JSON.parse(run.stdout) as { nodes: { endpoint: string; region: string; models: string[] }[] }).nodes
      expect(listed).toEqual([expect.objectContaining({ endpoint: `http://127.0.0.1:${port}`, region: 'eu-test', models: ['env-model'], max_concurrent: 2 })])
      child.kill('SIGINT')
      expect((await done).code).toBe(0)
    } finally {
      await dir.close()
      await rm(home, { recursive: true, force: true })
    }
  })

  it("node serve passes the node package's own IICP_* variables on, with flags winning", async () => {
    const dir = await startDirectory({ port: 0 })
    const home = await mkdtemp(join(tmpdir(), 'iicp-cli-'))
    const acceptPort = await closedPort()
    const nodeId = '0b8c3f5e-1d2a-4c6b-9e7f-123456789abc'
    try {
      const child = spawnCli(['node', 'serve', '--json', '--directory', dir.apiUrl, '--host', '127.0.0.1', '--port', '0', '--region', 'flag-region'], {
        IICP_HOME: home, IICP_NODE_ID: nodeId, IICP_AUTH: 'token', IICP_CX: '0', IICP_NATIVE: '0',
        IICP_RELAY_CAPABLE: '1', IICP_RELAY_ACCEPT_PORT: String(acceptPort), IICP_REGION: 'env-region',
      })
      const done = finished(child)
      try {
        const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
        const res = await fetch(`${dir.apiUrl}/v1/node/${nodeId}`)
        expect(res.status).toBe(200)
        expect(await res.json()).toMatchObject({
          node_id: nodeId, region: 'flag-region', cx_public_key: null, transport_endpoint: null, relay_capable: true, relay_accept_port: acceptPort,
        })
        // IICP_AUTH=token: a task without the node's token is refused.
        const task = await fetch(`${String(ready.url)}/v1/task`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ task_id: '6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b', intent: 'urn:iicp:intent:llm:chat:v1', payload: { messages: [{ role: 'user', content: 'hi' }] } }),
        })
        expect(task.status).toBe(401)
        expect(await task.json()).toEqual({ error: { code: 'unauthorized', message: 'Missing or invalid credentials' } })
      } finally {
        child.kill('SIGINT')
      }
      expect((await done).code).toBe(0)
    } finally {
      await dir.close()
      await rm(home, { recursive: true, force: true })
    }
  })

  it('mesh keeps running until SIGINT, serves consumers meanwhile, then closes and exits 0', async () => {
    const child = spawnCli(['mesh', '--json', '--port', '0', '--node-port', '0'])
    const done = finished(child)
    const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
    const directory = String(ready.directory)
    const run = await runCli(['discover', 'llm:chat:v1', '--directory', directory, '--json'])
    expect((JSON.parse(run.stdout) as { count: number }).count).toBe(2)
    child.kill('SIGINT')
    const result = await done
    expect(result.code).toBe(0)
    expect(result.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['ready', 'closed'])
  })

  it('proxy serves OpenAI clients against a loopback directory (private endpoints implied) until SIGINT', async () => {
    const dir = await startDirectory({ port: 0 })
    const node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo(), host: '127.0.0.1', port: 0, persistState: false })
    await node.serve()
    const child = spawnCli(['proxy', '--port', '0', '--json'], { IICP_DIRECTORY_URL: dir.apiUrl })
    const done = finished(child)
    try {
      const ready = await waitForJsonLine(child, (v) => v.event === 'ready')
      expect(ready.base_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)
      const client = new OpenAI({ baseURL: String(ready.base_url), apiKey: 'unused', maxRetries: 0 })
      const res = await client.chat.completions.create({ model: 'echo-1', messages: [{ role: 'user', content: 'via the cli' }] })
      expect(res.choices[0]?.message.content).toBe('echo: via the cli')
    } finally {
      child.kill('SIGINT')
      const run = await done
      await node.close()
      await dir.close()
      expect(run.code).toBe(0)
      const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; status?: number; node_id?: string })
      expect(events.map((e) => e.event)).toEqual(['ready', 'request', 'closed'])
      expect(events[1]).toMatchObject({ status: 200, node_id: node.nodeId })
    }
  })
})
