/**
 * `iicp conformance …`: mounts @iicp/conformance's own command (its options, output and exit codes: 0 when
 * every MUST passes, 1 on a failure or when it cannot run, 2 for usage). Loaded only when asked for.
 */
import { runCli } from '@iicp/conformance'
import type { RunContext } from '../program.js'

/** Run `iicp conformance` with the arguments after the command name. */
export async function conformance(ctx: RunContext<Record<string, unknown>>): Promise<number> {
  let code = 0
  await runCli(['node', 'iicp-conformance', ...ctx.args], {
    stdout: (t) => ctx.io.stdout.write(t),
    stderr: (t) => ctx.io.stderr.write(t),
    setExitCode: (c) => {
      code = c
    },
    env: ctx.io.env,
  })
  return code
}
