/**
 * Any error a command ends with → one line for people (or a JSON error body) and an exit code (issue 6).
 * Loaded only on the failure path. Expected failures never show a stack; unknown ones show their class only.
 */
import { isIicpError } from '@iicp/protocol'
import { CliFailure, EXIT_FAILURE, EXIT_USAGE } from './exit.js'
import type { Failure } from './exit.js'

// Errors that mean the caller's input was wrong rather than the mesh failing.
const USAGE_CODES = new Set(['invalid_config', 'invalid_intent'])

/** `; tried 1a2b3c4d (connection_failed), 5e6f7a8b (backend_error)`: which nodes failed how, on the same line. */
function attemptsSummary(attempts: unknown): string {
  if (!Array.isArray(attempts) || attempts.length === 0) return ''
  // Repeats on one node (retries) collapse to `×n`, so the line stays short.
  const groups: { key: string; n: number }[] = []
  for (const a of attempts as unknown[]) {
    const r = (typeof a === 'object' && a !== null ? a : {}) as { nodeId?: unknown; code?: unknown }
    const key = `${String(r.nodeId ?? '?').slice(0, 8)} (${String(r.code ?? 'failed')}`
    const last = groups[groups.length - 1]
    if (last?.key === key) last.n++
    else groups.push({ key, n: 1 })
  }
  const parts = groups.slice(0, 5).map((g) => `${g.key}${g.n > 1 ? ` ×${g.n}` : ''})`)
  return `; tried ${parts.join(', ')}${groups.length > 5 ? ', …' : ''}`
}

/** Describe `err` for the terminal; `usage` is the running command's usage line. */
export function describeFailure(err: unknown, usage: string): Failure {
  if (err instanceof CliFailure) return err.failure
  if (isIicpError(err)) {
    // A taken port is the machine's state, not a malformed command line: exit 1 and say what to change.
    if (err.code === 'invalid_config' && /cannot listen/i.test(err.message)) {
      return { code: 'listen_failed', message: `${err.message}; choose another with --port`, exitCode: EXIT_FAILURE }
    }
    if (USAGE_CODES.has(err.code)) return { code: err.code, message: err.message, hint: usage, exitCode: EXIT_USAGE }
    if (err.code === 'IICP-E033' || err.code === 'no_route_available') {
      return {
        code: err.code,
        message: `${err.message}; start a node with \`iicp node serve\` or a local mesh with \`iicp mesh\``,
        exitCode: EXIT_FAILURE,
      }
    }
    return { code: err.code, message: `${err.message} (${err.code})${attemptsSummary(err.extra?.attempts)}`, exitCode: EXIT_FAILURE }
  }
  const name = err instanceof Error ? err.name : typeof err
  return { code: 'internal_error', message: `unexpected ${name}; please report it with the command you ran`, exitCode: EXIT_FAILURE }
}
