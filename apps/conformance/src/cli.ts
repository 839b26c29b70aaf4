/**
 * The `conformance` command (commander): `pnpm --filter @iicp/conformance start` runs it directly and
 * apps/cli mounts {@link conformanceCommand} as `iicp conformance`. Exit code 0 only when every selected MUST
 * passes, 1 when one fails or the runner cannot run (no local mesh), 2 for bad usage, 3 when no MUST failed
 * but one was skipped (incomplete). Output is a table, `--markdown`, or `--json` (the run document).
 */
import { Command, Option } from 'commander'
import { IicpError, errorBody, isIicpError } from '@iicp/protocol'
import { renderMarkdown, renderTable, runDocument } from './report.js'
import { runConformance } from './run-conformance.js'
import type { ConformanceReport } from './run-conformance.js'

/** Exit code of an incomplete run: no MUST failed, but at least one was skipped, so conformance is unshown. */
export const EXIT_INCOMPLETE = 3

/** The command's exit code for a finished run: 0 conformant, 1 a MUST failed, {@link EXIT_INCOMPLETE} a MUST skipped. */
export function exitCodeOf(report: ConformanceReport): number {
  return report.verdict === 'conformant' ? 0 : report.verdict === 'not_conformant' ? 1 : EXIT_INCOMPLETE
}

/** Where the command writes and how it reports its exit code (injectable for tests and for apps/cli). */
export interface CommandIo {
  stdout(text: string): void
  stderr(text: string): void
  setExitCode(code: number): void
  /** Environment, for IICP_CONFORMANCE_NODE_TOKEN. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Whether stdout is an interactive terminal (colours only then). */
  readonly stdoutIsTTY?: boolean
}

const processIo: CommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  setExitCode: (c) => {
    process.exitCode = c
  },
  env: process.env,
  stdoutIsTTY: process.stdout.isTTY === true,
}

interface Flags {
  directory?: string
  node?: string
  allowRemote?: boolean
  json?: boolean
  markdown?: boolean
  only?: string
  checkTimeout?: string
}

/** Build the `conformance` command; mount it with `program.addCommand(conformanceCommand())`. */
export function conformanceCommand(io: CommandIo = processIo): Command {
  return new Command('conformance')
    .description('Check SDK-01..06, the spec\'s SDK tests, directory profiles and node shapes. No target: a local mesh.')
    .option('--directory <url>', 'check this directory (origin or /api base) against the spec\'s three profiles')
    .option('--node <url>', 'check this provider node (health, task envelope, errors, CORS); token from IICP_CONFORMANCE_NODE_TOKEN')
    .option('--allow-remote', 'allow non-loopback targets', false)
    .addOption(new Option('--json', 'print the verdict, skipped checks and iicp.conformance_result.v1 documents (content-free)').conflicts('markdown'))
    .option('--markdown', 'print a Markdown table')
    .option('--only <ids>', 'comma-separated requirement ids to run')
    .option('--check-timeout <ms>', 'time limit per check', '30000')
    .addHelpText('after', '\nExit codes: 0 every selected MUST passed, 1 a MUST failed (or the runner could not run), 2 usage,\n3 incomplete: no MUST failed but one was skipped (e.g. a token-mode node without IICP_CONFORMANCE_NODE_TOKEN).')
    .action(async (flags: Flags) => {
      const timeout = Number(flags.checkTimeout)
      if (!Number.isInteger(timeout) || timeout < 100 || timeout > 600_000) {
        io.stderr('error: --check-timeout must be an integer in 100..600000\n')
        io.setExitCode(2)
        return
      }
      try {
        const report = await runConformance({
          ...(flags.directory === undefined ? {} : { directory: flags.directory }),
          ...(flags.node === undefined ? {} : { node: flags.node }),
          allowRemote: flags.allowRemote === true,
          ...(io.env.IICP_CONFORMANCE_NODE_TOKEN ? { nodeToken: io.env.IICP_CONFORMANCE_NODE_TOKEN } : {}),
          ...(flags.only === undefined ? {} : { only: flags.only.split(',').map((s) => s.trim()).filter((s) => s.length > 0) }),
          checkTimeoutMs: timeout,
        })
        if (flags.json) io.stdout(`${JSON.stringify(runDocument(report), null, 2)}\n`)
        else if (flags.markdown) io.stdout(`${renderMarkdown(report)}\n`)
        else io.stdout(`${renderTable(report, { color: io.stdoutIsTTY === true && io.env.NO_COLOR === undefined })}\n`)
        io.setExitCode(exitCodeOf(report))
      } catch (caught) {
        // The runner could not run: one line (or one JSON error with --json), never a stack trace. Usage
        // problems exit 2, anything else 1, as apps/cli does.
        const err = isIicpError(caught) ? caught : new IicpError('server_error', 'the runner failed unexpectedly')
        if (flags.json) io.stdout(`${JSON.stringify(errorBody(err))}\n`)
        else io.stderr(`error: ${err.message}\n`)
        io.setExitCode(err.code === 'invalid_config' ? 2 : 1)
      }
    })
}

/** Run the command as a program (`iicp-conformance [options]`). */
export async function runCli(argv: readonly string[], io: CommandIo = processIo): Promise<void> {
  const cmd = conformanceCommand(io)
  cmd.exitOverride()
  cmd.configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
  // `pnpm start -- --json` hands the separator through; drop it so the flags after it are parsed.
  const args = argv.slice(2)
  if (args[0] === '--') args.shift()
  try {
    await cmd.parseAsync(args, { from: 'user' })
  } catch (err) {
    // commander signals --help and usage errors by throwing once exitOverride is set.
    const code = (err as { exitCode?: unknown }).exitCode
    if (typeof code !== 'number') throw err
    io.setExitCode(code === 0 ? 0 : 2)
  }
}
