/**
 * Exit codes and the one place an error becomes a line for people or a JSON body (issue 6: 0 ok, 1 failure,
 * 2 usage). Expected failures never print a stack trace; tokens never reach the terminal because IicpError
 * messages are redacted at construction.
 */

/** The command did what was asked. */
export const EXIT_OK = 0
/** The command ran and failed (network, node, directory, configuration). */
export const EXIT_FAILURE = 1
/** The command line itself was wrong: unknown flag, missing argument, bad value. */
export const EXIT_USAGE = 2
/**
 * `node serve` stopped because its Quick Tunnel died under `IICP_TUNNEL_DEAD_POLICY=exit` (or `auto` with
 * `IICP_SUPERVISED=1`): the official CLIs' code for "restart me" to a supervisor (official-sdks §7).
 */
export const EXIT_TUNNEL_DEAD = 75

/** A bad command line, raised by the CLI's own argument checks; rendered with the usage line and exit 2. */
export class UsageError extends Error {
  /** The usage line of the command that rejected the input (`iicp discover [options] <intent>`). */
  readonly usage: string | undefined
  constructor(message: string, usage?: string) {
    super(message)
    this.name = 'UsageError'
    this.usage = usage
  }
}

/** A finished command's outcome: an exit code, plus a failure to report (never thrown past `main`). */
export interface Failure {
  /** Stable machine code (`connection_failed`, `usage_error`, an IICP catalogue code …). */
  readonly code: string
  /** One line for people; no stack, no token, no payload. */
  readonly message: string
  /** Optional next step, printed dimmed after the message. */
  readonly hint?: string | undefined
  readonly exitCode: number
}

/** A failure a command has already described (e.g. "cannot reach the directory"); rendered as is. */
export class CliFailure extends Error {
  readonly failure: Failure
  constructor(failure: Failure) {
    super(failure.message)
    this.name = 'CliFailure'
    this.failure = failure
  }
}
