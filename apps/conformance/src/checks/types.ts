/**
 * The shape every check shares: `(target, ctx) → Promise<CheckResult>` with a one-line reason. Reasons are
 * content-free: status codes, error codes and field names only, never URLs, tokens or payloads.
 */
import type { TargetHttp } from '../target-http.js'

/** A check's verdict. */
export type CheckStatus = 'pass' | 'fail' | 'skip'

/** Why a check failed, in the spec result vocabulary (conformance-result-v1 `reason`). */
export type FailureKind = 'request_failed' | 'unexpected_status' | 'assertion_failed'

/** What one check reports. */
export interface CheckResult {
  readonly id: string
  readonly status: CheckStatus
  /** One line, content-free. */
  readonly reason: string
  /** The spec-vocabulary class of a failure. @default 'assertion_failed' */
  readonly kind?: FailureKind
  /** The HTTP status the decisive answer had, when there was one. */
  readonly observedStatus?: number | null
}

/** Shared per-run state handed to every check. */
export interface CheckContext {
  /** HTTP to the targets, one pool per run. */
  readonly http: TargetHttp
  /** Aborts when the run is cancelled or the check's time is up. */
  readonly signal: AbortSignal
  /** Per-run memo for work several checks share (e.g. one profile run feeding each of its case ids). */
  readonly memo: Map<string, Promise<unknown>>
}

/** One check of one requirement. */
export interface Check<T> {
  readonly id: string
  run(target: T, ctx: CheckContext): Promise<CheckResult>
}

/** A passing result. */
export function pass(id: string, reason: string, observedStatus?: number): CheckResult {
  return { id, status: 'pass', reason, ...(observedStatus === undefined ? {} : { observedStatus }) }
}

/** A failing result. */
export function fail(id: string, reason: string, kind: FailureKind = 'assertion_failed', observedStatus?: number | null): CheckResult {
  return { id, status: 'fail', reason, kind, ...(observedStatus === undefined ? {} : { observedStatus }) }
}

/** A skipped result; the reason says why. */
export function skip(id: string, reason: string): CheckResult {
  return { id, status: 'skip', reason }
}

const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/

/** An error code from a target, or a placeholder when it is not a plain code (never echo target content). */
export function safeCode(code: unknown): string {
  return typeof code === 'string' && SAFE_CODE.test(code) ? code : '<non-code>'
}
