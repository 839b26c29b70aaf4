/**
 * `iicp chat "<prompt>"`: one llm:chat:v1 task through discover → select → submit (spec SDK-02), printing the
 * reply and the route it took. The prompt is sent as given: no system message is added unless `--system`.
 */
import { CHAT_INTENT } from '@iicp/client'
import { createClient, explainDirectoryFailure, modelNotServed, servingNodes } from '../consumer.js'
import { EXIT_OK } from '../exit.js'
import type { ConsumerFlags } from '../flags.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'
import { chatReply, formatRoute, routeReport } from '../route-report.js'

/** Flags of `iicp chat`. */
export interface ChatFlags extends ConsumerFlags {
  system?: string
}

/** Run `iicp chat`. */
export async function chat(ctx: RunContext<ChatFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const messages = [
    ...(flags.system !== undefined ? [{ role: 'system', content: flags.system }] : []),
    { role: 'user', content: ctx.args[0] ?? '' },
  ]
  const payload: Record<string, unknown> = { messages }
  if (flags.model !== undefined) payload.model = flags.model
  const client = createClient(flags, ctx.io.env, ctx.usage)
  const progress = out.progress('routing through the mesh')
  try {
    const started = performance.now()
    if (flags.model !== undefined) {
      // Without this, a mesh where no node lists the model is still tried node by node, ending in IICP-E029.
      const list = await client.discover(CHAT_INTENT, { model: flags.model, ...(flags.qos !== undefined ? { qos: flags.qos } : {}) })
      if (list.nodes.length > 0 && servingNodes(list.nodes, CHAT_INTENT, flags.model).length === 0) {
        throw modelNotServed(flags.model, CHAT_INTENT, flags.directory)
      }
    }
    const result = await client.submit(CHAT_INTENT, payload, {
      ...(flags.model !== undefined ? { model: flags.model } : {}),
      ...(flags.qos !== undefined ? { qos: flags.qos } : {}),
    })
    const route = routeReport(result, performance.now() - started)
    progress.stop()
    const reply = chatReply(result.result)
    out.result({ reply: reply ?? null, result: result.result, task_id: result.taskId, route }, () =>
      `${reply ?? JSON.stringify(result.result, null, 2)}\n${formatRoute(out, route)}`)
    return EXIT_OK
  } catch (err) {
    progress.stop()
    throw explainDirectoryFailure(err, flags.directory)
  } finally {
    await client.close()
  }
}
