/**
 * The `iicp` command tree (issue 6). Only commander and this file load for `--help`; each command's module,
 * and with it the SDK packages, is imported when that command runs, so `iicp --help` starts fast.
 */
import { Command, CommanderError, Option } from 'commander'
import { BOOLEAN_ENV, ENV, envFlag } from './env.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './exit.js'
import type { Failure } from './exit.js'
import {
  DIRECTORY_PORT, NODE_BASE_PORT, PROXY_PORT, PUBLIC_DIRECTORY_URL, consumerOptions, integerIn, jsonOption, parseHttpUrl, parsePort,
} from './flags.js'
import type { CliIo } from './output.js'

/** What a command module receives. */
export interface RunContext<F> {
  /** Positional arguments after parsing. */
  readonly args: readonly string[]
  readonly flags: F
  readonly io: CliIo
  /** `usage: iicp <cmd> [options] …`, for usage errors raised by the command itself. */
  readonly usage: string
  /**
   * Resolves when the user asks to stop (SIGINT/SIGTERM). Only long-running commands call it: once called,
   * Ctrl-C no longer kills the process but starts a clean shutdown (a second Ctrl-C forces exit 1).
   */
  readonly untilStopped: () => Promise<NodeJS.Signals>
}

/** A command implementation: resolves with the exit code. */
export type CommandRun<F> = (ctx: RunContext<F>) => Promise<number>

// Kept in step with package.json by a test; importing the JSON would cost --help a file read and parse.
const VERSION = '0.1.0'

function usageLine(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return `usage: ${names.join(' ')} ${cmd.usage()}`
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json')
}

function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']
    const on = (s: NodeJS.Signals): void => {
      for (const x of signals) process.off(x, on)
      // A second Ctrl-C while shutting down means "now": leave without waiting for the drain.
      for (const x of signals) process.once(x, () => process.exit(EXIT_FAILURE))
      resolve(s)
    }
    for (const s of signals) process.on(s, on)
  })
}

interface RunState {
  code: number
  usage: string
  /** Commander's own error text, captured instead of printed so it is rendered once, our way. */
  commanderError: string
}

/** Build the command tree; actions record their exit code and usage line in `state`. */
function buildProgram(io: CliIo, state: RunState): Command {
  const program = new Command('iicp')
  let stop: Promise<NodeJS.Signals> | undefined
  const run = <F>(load: () => Promise<CommandRun<F>>) => async (...params: unknown[]): Promise<void> => {
    const cmd = params[params.length - 1] as Command
    state.usage = usageLine(cmd)
    const flags = cmd.opts<F & Record<string, unknown>>()
    for (const [attribute, variable] of Object.entries(BOOLEAN_ENV)) {
      if (flags[attribute] !== undefined || !cmd.options.some((o) => o.attributeName() === attribute)) continue
      const fromEnv = envFlag(io.env, variable)
      if (fromEnv !== undefined) (flags as Record<string, unknown>)[attribute] = fromEnv
    }
    const impl = await load()
    const untilStopped = (): Promise<NodeJS.Signals> => (stop ??= stopSignal())
    state.code = await impl({ args: cmd.args, flags, io, usage: state.usage, untilStopped })
  }

  program
    .description('IICP from the command line: a local mesh, a directory, a node, consumer calls and an OpenAI-, Ollama- and Anthropic-compatible proxy.')
    .version(VERSION, '-V, --version')
    .helpCommand(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', `
Start here:
  iicp mesh --demo          run a local mesh and route one chat through it
  iicp mesh                 keep a local mesh running (Ctrl-C stops it)
Exit codes: 0 ok, 1 failure, 2 usage.`)

  const mesh = program.command('mesh')
    .description('start an embedded directory and two echo nodes (or one node per --backend) on 127.0.0.1')
    .option('--demo', 'route one chat through discover → select → submit, print reply and route, exit')
    .option('--prompt <text>', 'the demo prompt', 'Hello from the IICP mesh')
    .addOption(new Option('-b, --backend <kind...>', 'one node per backend: echo | openai (repeatable)').choices(['echo', 'openai']))
    .addOption(new Option('--base-url <url>', 'OpenAI-compatible server for openai backends').env(ENV.baseUrl).argParser(parseHttpUrl))
    .addOption(new Option('-m, --model <name>', 'model the nodes serve (required for openai backends)').env(ENV.model))
    .addOption(new Option('-p, --port <port>', `directory port (${DIRECTORY_PORT} when free, else any; --demo uses any)`).argParser(parsePort))
    .addOption(new Option('--node-port <port>', 'first node port; nodes move up the band when taken (0 = any free port)').default(NODE_BASE_PORT).argParser(parsePort))
    .option('--skip-liveness-check', `list registrations without probing their /iicp/health (test mode, e.g. for \`iicp conformance\`; env: ${ENV.skipLivenessCheck})`)
  jsonOption(mesh).action(run(async () => (await import('./commands/mesh.js')).mesh))

  const directory = program.command('directory').description('run an IICP directory')
  const dirServe = directory.command('serve')
    .description('serve the directory API (register, heartbeat, discover, tickets) until Ctrl-C')
    .addOption(new Option('-p, --port <port>', 'listen port (0 = any)').env(ENV.directoryPort).default(DIRECTORY_PORT).argParser(parsePort))
    .addOption(new Option('--host <address>', 'listen address').env(ENV.directoryHost).default('127.0.0.1'))
    .addOption(new Option('--mode <mode>', 'local lists loopback/private node endpoints; public enforces routability').env(ENV.directoryMode).choices(['local', 'public']).default('local'))
    .addOption(new Option('--probe-hosts <scope>', 'addresses the registration liveness probe may contact: loopback, private (LAN, incl. loopback) or any (public only) (default: loopback in local mode, any in public)').env(ENV.probeHosts).choices(['loopback', 'private', 'any']))
    .addOption(new Option('--data-file <path>', 'keep nodes and the signing key across restarts').env(ENV.dataFile))
    .option('--skip-liveness-check', `list registrations without probing their /iicp/health (test mode, e.g. for \`iicp conformance\`; env: ${ENV.skipLivenessCheck})`)
  jsonOption(dirServe).action(run(async () => (await import('./commands/directory.js')).directoryServe))

  const node = program.command('node').description('run an IICP provider node')
  const nodeServe = node.command('serve')
    .description('serve tasks from a backend and stay registered with a directory until Ctrl-C')
    .addOption(new Option('-d, --directory <url>', 'directory API base').env(ENV.directory).default(PUBLIC_DIRECTORY_URL).argParser(parseHttpUrl))
    .addOption(new Option('-p, --port <port>', `listen port (default: ${NODE_BASE_PORT}, moving up when taken; 0 = any)`).env(ENV.port).argParser(parsePort))
    .addOption(new Option('--host <address>', 'listen address').env(ENV.host).default('0.0.0.0'))
    .addOption(new Option('--public-endpoint <url>', 'URL advertised to the directory').env(ENV.publicEndpoint).argParser(parseHttpUrl))
    .addOption(new Option('-r, --region <region>', 'region tag such as eu-central').env(ENV.region))
    .addOption(new Option('-b, --backend <kind>', 'what answers tasks').env(ENV.backend).choices(['echo', 'openai']).default('echo'))
    .addOption(new Option('--base-url <url>', 'OpenAI-compatible server (for --backend openai)').env(ENV.baseUrl).argParser(parseHttpUrl))
    .addOption(new Option('-m, --model <name>', 'model to serve').env(ENV.model))
    .addOption(new Option('--api-key <key>', 'bearer key for the OpenAI-compatible server (never printed)').env(ENV.apiKey))
    .addOption(new Option('--max-concurrent <n>', 'tasks at once (1-256)').env(ENV.maxConcurrent).argParser(integerIn(1, 256)))
    .addOption(new Option('--name <name>', 'state file name under $IICP_HOME/nodes').env(ENV.nodeName))
    .addOption(new Option('--home <dir>', 'state directory (default ~/.iicp)').env(ENV.home))
    .option('--tunnel', 'advertise a verified tunnel: IICP_TUNNEL_URL, ngrok, Tailscale Funnel, else a Quick Tunnel via cloudflared on the PATH')
  jsonOption(nodeServe).action(run(async () => (await import('./commands/node.js')).nodeServe))
  const statusOptions = (cmd: Command): Command => cmd
    .addOption(new Option('--node <url>', `the node's base URL (default: the node on 127.0.0.1:${NODE_BASE_PORT}… (IICP_PORT…) matching the state file, else where the directory lists it on loopback)`).argParser(parseHttpUrl))
    .addOption(new Option('-d, --directory <url>', "directory API base (default: the one in the node's state file)").argParser(parseHttpUrl))
    .addOption(new Option('--name <name>', 'state file name under $IICP_HOME/nodes').env(ENV.nodeName))
    .addOption(new Option('--home <dir>', 'state directory (default ~/.iicp)').env(ENV.home))
  jsonOption(statusOptions(node.command('status')
    .description('what the node advertises, its tier, route evidence, last heartbeat, and advice')))
    .action(run(async () => (await import('./commands/doctor.js')).nodeStatus))

  jsonOption(statusOptions(program.command('doctor')
    .description('check the directory, the listen port, the backend, the tunnel rung and the node, with advice'))
    .addOption(new Option('-p, --port <port>', `port a node would listen on (default ${NODE_BASE_PORT})`).env(ENV.port).argParser(parsePort))
    .addOption(new Option('--host <address>', 'listen address to check').env(ENV.host))
    .addOption(new Option('--base-url <url>', 'OpenAI-compatible backend to check').env(ENV.baseUrl).argParser(parseHttpUrl))
    .addOption(new Option('--api-key <key>', 'bearer key for the backend (never printed)').env(ENV.apiKey)))
    .action(run(async () => (await import('./commands/doctor.js')).doctor))

  const nat = program.command('nat').description('check how this host can be reached from the internet')
  jsonOption(nat.command('detect')
    .description('walk the NAT ladder once (public address, UPnP/NAT-PMP, IPv6 pinhole, relay); print the tier, what was tried and the advice')
    .addOption(new Option('-d, --directory <url>', 'directory whose /v1/probe checks reachability').env(ENV.directory).default(PUBLIC_DIRECTORY_URL).argParser(parseHttpUrl))
    .addOption(new Option('-p, --port <port>', 'local port to check (0 = any free)').env(ENV.port).default(NODE_BASE_PORT).argParser(parsePort)))
    .action(run(async () => (await import('./commands/nat.js')).natDetect))

  consumerOptions(program.command('discover')
    .description('list the nodes a directory returns for an intent')
    .argument('<intent>', 'intent URN, or its short form such as llm:chat:v1')
    .addOption(new Option('-l, --limit <n>', 'at most this many nodes (1-50)').argParser(integerIn(1, 50))))
    .action(run(async () => (await import('./commands/discover.js')).discover))

  consumerOptions(program.command('chat')
    .description('send one chat message through the mesh and print the reply and its route')
    .argument('<prompt>', 'the user message')
    .option('-s, --system <text>', 'a system message sent before the prompt'))
    .action(run(async () => (await import('./commands/chat.js')).chat))

  consumerOptions(program.command('submit')
    .description('run one task for any intent and print its result')
    .argument('<intent>', 'intent URN, or its short form such as llm:chat:v1')
    .requiredOption('--payload <json|@file>', 'task payload as JSON, or @path to a JSON file'))
    .action(run(async () => (await import('./commands/submit.js')).submit))

  consumerOptions(program.command('proxy')
    .description('serve OpenAI-, Ollama- and Anthropic-compatible APIs that route every chat through the mesh')
    .addOption(new Option('-p, --port <port>', 'listen port (0 = any)').env(ENV.proxyPort).default(PROXY_PORT).argParser(parsePort))
    .addOption(new Option('--host <address>', 'listen address').env(ENV.proxyHost).default('127.0.0.1'))
    .addHelpText('after', `
Routes:
  OpenAI     POST /v1/chat/completions, GET /v1/models          OPENAI_BASE_URL=http://127.0.0.1:${PROXY_PORT}/v1
  Ollama     POST /api/chat, GET /api/tags, GET /api/version   OLLAMA_HOST=http://127.0.0.1:${PROXY_PORT}
  Anthropic  POST /v1/messages                                  ANTHROPIC_BASE_URL=http://127.0.0.1:${PROXY_PORT}
Routing follows the client's IICP_* variables (IICP_ROUTING_STRATEGY, IICP_ROUTE_DISCOVERY_MODE, IICP_TRANSPORT …).`), { model: false })
    .action(run(async () => (await import('./commands/proxy.js')).proxy))

  // The conformance runner owns its options; this stub keeps it (and the whole SDK) out of `iicp --help`.
  program.command('conformance')
    .description('check this SDK, a directory (--directory) or a node (--node) against IICP conformance; see `iicp conformance --help`')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]')
    .action(run(async () => (await import('./commands/conformance.js')).conformance))

  // Every command writes help to stdout and keeps commander's error text for our own one-line rendering.
  const visit = (cmd: Command): void => {
    cmd.configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s) => {
        state.usage = usageLine(cmd)
        state.commanderError = s.trim()
      },
    })
    cmd.commands.forEach(visit)
  }
  visit(program)
  return program
}

async function report(io: CliIo, json: boolean, failure: Failure): Promise<void> {
  const { Output } = await import('./output.js')
  new Output(io, json).fail(failure)
}

/** Run the CLI: parse `argv`, run the chosen command, and resolve with the exit code (never throws). */
export async function main(argv: readonly string[] = process.argv, io?: CliIo): Promise<number> {
  const cliIo = io ?? { stdout: process.stdout, stderr: process.stderr, env: process.env }
  const state: RunState = { code: EXIT_OK, usage: 'usage: iicp [options] [command]', commanderError: '' }
  const program = buildProgram(cliIo, state)
  const json = wantsJson(argv)
  // Never blocks and never speaks on --json; see update-notice.ts for when it stays silent.
  const notice = (await import('./update-notice.js')).startUpdateNotice({ env: cliIo.env, current: VERSION, json, stderrIsTty: cliIo.stderr.isTTY === true })
  try {
    await program.parseAsync([...argv])
    return state.code
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK
      // No command given: commander has printed the help to stderr already.
      if (err.code === 'commander.help') return EXIT_USAGE
      const message = (state.commanderError || err.message).replace(/^error:\s*/, '')
      await report(cliIo, json, { code: 'usage_error', message, hint: state.usage, exitCode: EXIT_USAGE })
      return EXIT_USAGE
    }
    if (err instanceof UsageError) {
      await report(cliIo, json, { code: 'usage_error', message: err.message, hint: err.usage ?? state.usage, exitCode: EXIT_USAGE })
      return EXIT_USAGE
    }
    const { describeFailure } = await import('./failure.js')
    const failure = describeFailure(err, state.usage)
    await report(cliIo, json, failure)
    return failure.exitCode
  } finally {
    await notice.ready
    const line = notice.message()
    if (line !== undefined) cliIo.stderr.write(`${line}\n`)
  }
}
