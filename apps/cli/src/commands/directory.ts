/**
 * `iicp directory serve`: the embedded IICP directory (IICP-DIR; wire.md §1) until Ctrl-C. Every
 * `directoryOptionsFromEnv` variable applies (IICP_SKIP_LIVENESS_CHECK, IICP_DIRECTORY_PUBLIC_ORIGIN,
 * IICP_DIRECTORY_PROBATION, IICP_DIRECTORY_TRUST_PROXY, IICP_DIRECTORY_PROBE_HOSTS …); flags override them.
 */
import { directoryOptionsFromEnv, startDirectory } from '@iicp/directory'
import type { DirectoryOptions } from '@iicp/directory'
import { EXIT_OK } from '../exit.js'
import { Output } from '../output.js'
import type { RunContext } from '../program.js'

/** Flags of `iicp directory serve`. */
export interface DirectoryServeFlags {
  port: number
  host: string
  mode: 'local' | 'public'
  dataFile?: string
  /** Address scope of the liveness probe; the directory's default (loopback in local mode) when absent. */
  probeHosts?: 'loopback' | 'private' | 'any'
  skipLivenessCheck?: boolean
  json?: boolean
}

/** The DirectoryOptions the environment and flags describe, flags winning. */
export function directoryServeOptions(flags: DirectoryServeFlags, env: Readonly<Record<string, string | undefined>>): DirectoryOptions {
  const options: DirectoryOptions = { ...directoryOptionsFromEnv({ ...env }), port: flags.port, host: flags.host, mode: flags.mode }
  if (flags.dataFile !== undefined) options.dataFile = flags.dataFile
  if (flags.skipLivenessCheck !== undefined) options.skipLivenessCheck = flags.skipLivenessCheck
  if (flags.probeHosts !== undefined) options.probeHosts = flags.probeHosts
  return options
}

/** Run `iicp directory serve`. */
export async function directoryServe(ctx: RunContext<DirectoryServeFlags>): Promise<number> {
  const { flags } = ctx
  const out = new Output(ctx.io, flags.json === true)
  const options = directoryServeOptions(flags, ctx.io.env)
  const skipLiveness = options.skipLivenessCheck === true
  const probeHosts = options.probeHosts ?? (flags.mode === 'public' ? 'any' : 'loopback')
  // Listen for Ctrl-C from the start: a signal during startup then shuts down cleanly once up.
  const stopped = ctx.untilStopped()
  const dir = await startDirectory(options)
  try {
    out.result({ event: 'ready', url: dir.url, api_url: dir.apiUrl, mode: flags.mode, public_key: dir.publicKeyHex, skip_liveness_check: skipLiveness, probe_hosts: probeHosts }, () => [
      `${out.c.green('✔')} IICP directory (${flags.mode} mode) at ${out.c.bold(dir.apiUrl)}`,
      ...(skipLiveness ? [] : [out.c.dim(`liveness probe reaches ${probeHosts === 'private' ? 'loopback and private (LAN)' : probeHosts === 'any' ? 'public' : 'loopback'} endpoints only (--probe-hosts)`)]),
      ...(skipLiveness ? [out.c.yellow('! liveness check off: registrations are listed without probing GET {endpoint}/iicp/health (test mode)')] : []),
      `${out.c.dim('nodes:')}     iicp node serve --directory ${dir.apiUrl}`,
      `${out.c.dim('consumers:')} iicp discover llm:chat:v1 --directory ${dir.apiUrl}`,
      out.c.dim('Ctrl-C stops it.'),
    ].join('\n'))
    const signal = await stopped
    out.note(out.ce.dim(`${signal}: stopping the directory…`))
  } finally {
    await dir.close()
  }
  out.event({ event: 'closed' }, `${out.ce.green('✔')} directory closed`)
  return EXIT_OK
}
