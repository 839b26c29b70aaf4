/**
 * Consumer commands' shared part (issue 6): flags → an IicpClient, loopback directories imply
 * `allowPrivateEndpoints` (a local mesh), and "cannot reach the directory" becomes one clear line.
 */
import { IicpClient } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { classifyHost, isIicpError } from '@iicp/protocol'
import { CliFailure, EXIT_FAILURE, UsageError } from './exit.js'
import type { ConsumerFlags } from './flags.js'

const INTENT_PREFIX = 'urn:iicp:intent:'

/** `llm:chat:v1` → `urn:iicp:intent:llm:chat:v1`; full URNs pass through (validated by the client). */
export function expandIntent(intent: string): string {
  return intent.startsWith('urn:') ? intent : `${INTENT_PREFIX}${intent}`
}

/** Whether a directory URL points at this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackDirectory(directoryUrl: string): boolean {
  const host = new URL(directoryUrl).hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || classifyHost(host) === 'loopback'
}

/** The client config the flags describe. */
export function clientConfig(flags: ConsumerFlags): ClientConfig {
  const config: ClientConfig = {
    directoryUrl: flags.directory,
    allowPrivateEndpoints: flags.allowPrivateEndpoints ?? isLoopbackDirectory(flags.directory),
  }
  if (flags.timeout !== undefined) config.timeoutMs = flags.timeout
  if (flags.region !== undefined) config.region = flags.region
  return config
}

/** Build a client from flags; a bad flag combination is a usage error. */
export function createClient(flags: ConsumerFlags, usage: string): IicpClient {
  try {
    return new IicpClient(clientConfig(flags))
  } catch (err) {
    if (isIicpError(err) && err.code === 'invalid_config') throw new UsageError(`--directory: ${err.message}`, usage)
    throw err
  }
}

function reason(err: { message: string; code: string }): string {
  const m = /\(([A-Z_]+)\)/.exec(err.message)
  if (m?.[1] === 'ECONNREFUSED') return 'connection refused'
  if (m?.[1] === 'ENOTFOUND' || m?.[1] === 'EAI_AGAIN') return 'host not found'
  if (err.code === 'timeout') return 'no answer in time'
  return m?.[1] !== undefined ? m[1].toLowerCase() : 'connection failed'
}

// Answers that mean the URL is not an IICP directory API (a web page, a wrong path, a non-IICP server).
const NOT_A_DIRECTORY = new Set(['not_found', 'method_not_allowed', 'invalid_response'])

/**
 * Explain failures that happened before any node was tried (no `attempts` on the error), i.e. at the
 * directory: a connection failure or timeout becomes "cannot reach the directory" (the one line issue 6
 * asks for), and a 404/405/garbled answer becomes "this is not an IICP directory API". Anything else,
 * node failures included, passes through.
 */
export function explainDirectoryFailure(err: unknown, directoryUrl: string): unknown {
  if (!isIicpError(err)) return err
  if (err.extra !== undefined && Array.isArray(err.extra.attempts)) return err
  if (err.code === 'connection_failed' || err.code === 'timeout') {
    return new CliFailure({
      code: 'directory_unreachable',
      message: `cannot reach the IICP directory at ${directoryUrl} (${reason(err)}); `
        + 'point --directory at a running directory, or start a local mesh with `iicp mesh`',
      exitCode: EXIT_FAILURE,
    })
  }
  if (NOT_A_DIRECTORY.has(err.code)) {
    return new CliFailure({
      code: 'directory_invalid',
      message: `${directoryUrl} did not answer like an IICP directory (${err.message}); `
        + '--directory takes the API base, e.g. http://127.0.0.1:9480/api',
      exitCode: EXIT_FAILURE,
    })
  }
  return err
}
