/**
 * `iicp mesh` (issue 6, the README's "run it" command): a local directory plus two echo nodes (or one node
 * per `--backend`) on 127.0.0.1, confirmed discoverable through a real discover call. With `--demo` it routes
 * one chat through discover → select → submit, prints the reply and the route, closes everything and exits 0;
 * without, it keeps running with a live status line until Ctrl-C, when nodes deregister and all closes.
 */
import { CHAT_INTENT, IicpClient } from '@iicp/client'
import type { IicpNode } from '@iicp/node'
import { IicpError } from '@iicp/protocol'
import { EXIT_OK } from '../exit.js'
import { DIRECTORY_PORT } from '../flags.js'
import { startLocalMesh } from '../local-mesh.js'
import type { LocalMesh } from '../local-mesh.js'
import { buildBackend } from '../node-backends.js'
import type { BackendKind } from '../node-backends.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'
import { chatReply, formatRoute, routeReport } from '../route-report.js'

/** Flags of `iicp mesh`. */
export interface MeshFlags {
  demo?: boolean
  prompt: string
  backend?: BackendKind[]
  baseUrl?: string
  model?: string
  port?: number
  nodePort: number
  skipLivenessCheck?: boolean
  json?: boolean
}

function nodeInfo(node: IicpNode, kind: BackendKind): Record<string, unknown> {
  return {
    node_id: node.nodeId,
    endpoint: node.endpoint ?? node.url ?? null,
    backend: kind,
    models: [...new Set(node.options.capabilities.flatMap((c) => c.models))],
    registered: node.isRegistered,
  }
}

/** Discover until every node is listed (registration is synchronous, so this normally takes one call). */
async function confirmDiscoverable(client: IicpClient, expected: number): Promise<number> {
  let count = 0
  for (let i = 0; i < 20; i++) {
    count = (await client.discover(CHAT_INTENT, { limit: 50 })).count
    if (count >= expected) return count
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new IicpError('service_unavailable', `only ${count} of ${expected} nodes became discoverable`)
}

function uptime(ms: number): string {
  const s = Math.floor(ms / 1000)
  const m = Math.floor(s / 60)
  const h = Math.floor(m / 60)
  return h > 0 ? `${h}h${String(m % 60).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}

/** Run `iicp mesh`. */
export async function mesh(ctx: RunContext<MeshFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const kinds: BackendKind[] = flags.backend ?? ['echo', 'echo']
  const backends = kinds.map((k) => buildBackend(k, flags, ctx.usage))
  // A live mesh listens for Ctrl-C from the start, so a signal during startup still closes it cleanly.
  const stopped = flags.demo === true ? undefined : ctx.untilStopped()
  const progress = out.progress('starting a local directory and nodes on 127.0.0.1', stopped === undefined)
  let local: LocalMesh | undefined
  let client: IicpClient | undefined
  try {
    local = await startLocalMesh({
      backends,
      directoryPort: flags.port ?? (flags.demo === true ? 0 : DIRECTORY_PORT),
      fallbackToAnyPort: flags.port === undefined,
      nodeBasePort: flags.nodePort,
      skipLivenessCheck: flags.skipLivenessCheck === true,
      onDegraded: (i, reason, code) => {
        out.clearStatus()
        out.event({ event: 'degraded', node: i, reason, code }, `${out.ce.yellow('!')} node ${i + 1}: ${reason} (${code})`)
      },
    })
    const mesh = local
    client = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true, timeoutMs: 10_000 })
    progress.update('waiting until the nodes are discoverable')
    const discovered = await confirmDiscoverable(client, mesh.nodes.length)
    progress.succeed(`local mesh up: directory ${mesh.directoryUrl}, ${mesh.nodes.length} node(s) discoverable`)
    const nodes = mesh.nodes.map((n, i) => nodeInfo(n, kinds[i] ?? 'echo'))
    const meshJson = { directory: mesh.directoryUrl, nodes, skip_liveness_check: flags.skipLivenessCheck === true }
    const nodeTable = (): string => out.table(['node', 'endpoint', 'backend', 'models'], nodes.map((n) => [
      String(n.node_id), String(n.endpoint), String(n.backend), (n.models as string[]).join(', '),
    ]))

    if (flags.demo === true) {
      const prompt = flags.prompt
      const started = performance.now()
      const result = await client.submit(CHAT_INTENT, { messages: [{ role: 'user', content: prompt }] })
      const route = routeReport(result, performance.now() - started)
      const reply = chatReply(result.result)
      await client.close()
      await mesh.close()
      out.result({ mesh: meshJson, discovered, prompt, reply: reply ?? null, route }, () => [
        nodeTable(),
        `${out.c.dim('discover')} ${CHAT_INTENT} → ${discovered} node(s)`,
        `${out.c.bold('prompt')} ${prompt}`,
        `${out.c.bold('reply')}  ${out.c.green(reply ?? JSON.stringify(result.result))}`,
        formatRoute(out, route),
      ].join('\n'))
      out.note(out.ce.dim('mesh closed: nodes deregistered, directory stopped'))
      return EXIT_OK
    }

    await client.close()
    out.result({ event: 'ready', ...meshJson }, () => [
      nodeTable(),
      ...(flags.skipLivenessCheck === true ? [out.c.yellow('! liveness check off: the directory lists registrations without probing them (test mode)')] : []),
      `${out.c.dim('try:')} iicp chat "hello" --directory ${mesh.directoryUrl}`,
      `${out.c.dim('     iicp proxy --directory')} ${mesh.directoryUrl}${out.c.dim('   (then point an OpenAI client at http://127.0.0.1:9483/v1)')}`,
      out.c.dim('Ctrl-C stops the mesh.'),
    ].join('\n'))
    const since = Date.now()
    const draw = (): void => {
      const up = mesh.nodes.filter((n) => n.isRegistered).length
      const active = mesh.nodes.reduce((sum, n) => sum + n.activeJobs, 0)
      out.status(`${out.ce.green('●')} mesh ${mesh.directoryUrl}  ${up}/${mesh.nodes.length} nodes registered  ${active} task(s) running  up ${uptime(Date.now() - since)}`)
    }
    draw()
    const timer = out.interactive ? setInterval(draw, 1000) : undefined
    const signal = await (stopped ?? ctx.untilStopped())
    if (timer) clearInterval(timer)
    out.clearStatus()
    out.note(out.ce.dim(`${signal}: stopping nodes (deregistering) and the directory…`))
    await mesh.close()
    out.event({ event: 'closed' }, `${out.ce.green('✔')} mesh closed`)
    return EXIT_OK
  } catch (err) {
    progress.stop()
    throw err
  } finally {
    await client?.close()
    await local?.close()
  }
}
