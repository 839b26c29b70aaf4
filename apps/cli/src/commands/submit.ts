/** `iicp submit <intent> --payload <json|@file>`: one task for any intent (wire.md §2), result and route. */
import { readFile } from 'node:fs/promises'
import { createClient, expandIntent, explainDirectoryFailure } from '../consumer.js'
import { EXIT_OK, UsageError } from '../exit.js'
import type { ConsumerFlags } from '../flags.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'
import { formatRoute, routeReport } from '../route-report.js'

/** Flags of `iicp submit`. */
export interface SubmitFlags extends ConsumerFlags {
  payload: string
}

/** Read `--payload`: inline JSON, or `@path` to a JSON file. Bad JSON is a usage error. */
export async function readPayload(spec: string, usage: string): Promise<unknown> {
  let text = spec
  let where = '--payload'
  if (spec.startsWith('@')) {
    where = spec.slice(1)
    try {
      text = await readFile(where, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
      throw new UsageError(`--payload: cannot read ${where} (${code})`, usage)
    }
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new UsageError(`--payload: ${where === '--payload' ? 'the value' : where} is not valid JSON`, usage)
  }
}

/** Run `iicp submit`. */
export async function submit(ctx: RunContext<SubmitFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const intent = expandIntent(ctx.args[0] ?? '')
  const payload = await readPayload(flags.payload, ctx.usage)
  const client = createClient(flags, ctx.io.env, ctx.usage)
  const progress = out.progress(`submitting ${intent}`)
  try {
    const started = performance.now()
    const result = await client.submit(intent, payload, {
      ...(flags.model !== undefined ? { model: flags.model } : {}),
      ...(flags.qos !== undefined ? { qos: flags.qos } : {}),
    })
    const route = routeReport(result, performance.now() - started)
    progress.stop()
    out.result({ task_id: result.taskId, intent, result: result.result, route }, () =>
      `${JSON.stringify(result.result, null, 2)}\n${formatRoute(out, route)}`)
    return EXIT_OK
  } catch (err) {
    progress.stop()
    throw explainDirectoryFailure(err, flags.directory)
  } finally {
    await client.close()
  }
}
