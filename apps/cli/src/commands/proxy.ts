/**
 * `iicp proxy`: OpenAI-, Ollama- and Anthropic-compatible endpoints on 127.0.0.1:9483 that route each chat
 * through the mesh, so existing tooling uses IICP by changing its base URL. The client takes the environment
 * (`clientOptionsFromEnv`) under the flags. Runs until Ctrl-C.
 */
import { clientConfig, configUsageError, isLoopbackDirectory } from '../consumer.js'
import { EXIT_OK } from '../exit.js'
import type { ConsumerFlags } from '../flags.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'
import { startProxy } from '../proxy/server.js'

/** Flags of `iicp proxy`. */
export interface ProxyFlags extends ConsumerFlags {
  port: number
  host: string
}

/** Run `iicp proxy`. */
export async function proxy(ctx: RunContext<ProxyFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  // Listen for Ctrl-C from the start: a signal during startup then shuts down cleanly once up.
  const stopped = ctx.untilStopped()
  let client
  try {
    client = clientConfig(flags, ctx.io.env)
  } catch (err) {
    throw configUsageError(err, ctx.usage)
  }
  const running = await startProxy({
    client,
    port: flags.port,
    host: flags.host,
    ...(flags.qos !== undefined ? { qos: flags.qos } : {}),
    onRequest: (r) => out.event(
      { event: 'request', method: r.method, path: r.path, status: r.status, node_id: r.nodeId ?? null, code: r.code ?? null, latency_ms: Math.round(r.latencyMs) },
      `${r.status < 400 ? out.ce.green(String(r.status)) : out.ce.red(String(r.status))} ${r.method} ${r.path}`
        + `${r.nodeId !== undefined ? ` → ${r.nodeId}` : ''}${r.code !== undefined ? ` (${r.code})` : ''} ${out.ce.dim(`${Math.round(r.latencyMs)} ms`)}`,
    ),
  }).catch((err: unknown) => {
    throw configUsageError(err, ctx.usage)
  })
  try {
    const base = `${running.url}/v1`
    out.result({ event: 'ready', url: running.url, base_url: base, directory: flags.directory }, () => [
      `${out.c.green('✔')} OpenAI-compatible proxy at ${out.c.bold(base)} → IICP directory ${flags.directory}`,
      `${out.c.dim('use it:')} OPENAI_BASE_URL=${base} OPENAI_API_KEY=unused <your OpenAI tool>`,
      `${out.c.dim('models:')} curl ${base}/models`,
      `${out.c.dim('ollama:')} OLLAMA_HOST=${running.url} <your Ollama tool>   ${out.c.dim('(POST /api/chat, GET /api/tags)')}`,
      `${out.c.dim('anthropic:')} ANTHROPIC_BASE_URL=${running.url} <your Anthropic tool>   ${out.c.dim('(POST /v1/messages)')}`,
      ...(isLoopbackDirectory(flags.directory) ? [] : [out.c.dim('tip: for a local mesh, run `iicp mesh` and pass --directory http://127.0.0.1:9480/api')]),
      out.c.dim('Ctrl-C stops it.'),
    ].join('\n'))
    const signal = await stopped
    out.note(out.ce.dim(`${signal}: stopping the proxy…`))
  } finally {
    await running.close()
  }
  out.event({ event: 'closed' }, `${out.ce.green('✔')} proxy closed`)
  return EXIT_OK
}
