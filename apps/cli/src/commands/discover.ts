/** `iicp discover <intent>`: GET /v1/discover through the client (wire.md §1.5) as a table or JSON. */
import type { NodeSummary } from '@iicp/protocol'
import { createClient, expandIntent, explainDirectoryFailure, servingNodes } from '../consumer.js'
import { EXIT_OK } from '../exit.js'
import type { ConsumerFlags } from '../flags.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'

/** Flags of `iicp discover`. */
export interface DiscoverFlags extends ConsumerFlags {
  limit?: number
}

function fixed(n: number | null | undefined, digits: number): string {
  return typeof n === 'number' ? n.toFixed(digits) : '-'
}

/** The JSON shape of one node: the fields a person or script routes by, in wire (snake_case) names. */
function nodeRow(n: NodeSummary): Record<string, unknown> {
  return {
    node_id: n.node_id,
    endpoint: n.endpoint ?? null,
    region: n.region ?? null,
    models: n.models ?? [],
    score: n.score ?? null,
    load: n.load ?? null,
    active_jobs: n.active_jobs ?? null,
    max_concurrent: n.max_concurrent ?? null,
    available: n.available ?? null,
    reputation_score: n.reputation_score ?? null,
    cx: n.cx_public_key != null,
  }
}

/** Run `iicp discover`. */
export async function discover(ctx: RunContext<DiscoverFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const intent = expandIntent(ctx.args[0] ?? '')
  const client = createClient(flags, ctx.io.env, ctx.usage)
  const progress = out.progress(`asking ${flags.directory} for ${intent}`)
  try {
    const list = await client.discover(intent, {
      ...(flags.model !== undefined ? { model: flags.model } : {}),
      ...(flags.qos !== undefined ? { qos: flags.qos } : {}),
      ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
    })
    progress.stop()
    const listed = servingNodes(list.nodes, intent, flags.model)
    const nodes = listed.map(nodeRow)
    const what = flags.model !== undefined ? `${intent} with model ${flags.model}` : intent
    out.result({ intent, directory: flags.directory, count: nodes.length, nodes }, () => {
      if (nodes.length === 0) return `${out.c.yellow('no nodes')} serve ${what} at ${flags.directory}`
      const rows = listed.map((n) => [
        n.node_id ?? '-', n.endpoint ?? '-', n.region ?? '-', (n.models ?? []).join(', ') || '-', fixed(n.score, 3), fixed(n.load, 2),
      ])
      return `${out.table(['node', 'endpoint', 'region', 'models', 'score', 'load'], rows)}\n${out.c.dim(`${nodes.length} node(s) for ${what}`)}`
    })
    return EXIT_OK
  } catch (err) {
    progress.stop()
    throw explainDirectoryFailure(err, flags.directory)
  } finally {
    await client.close()
  }
}
