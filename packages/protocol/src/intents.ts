/** Intent URN rules (wire.md §3). CONTRACT STUB: implemented by the protocol-core helper. */
import { IicpError } from './errors.js'

export interface ParsedIntent {
  readonly urn: string
  /** Namespace, e.g. `llm` or `x.acme`. */
  readonly namespace: string
  /** Verb path after the namespace, e.g. `chat` or `tools/call`. */
  readonly action: string
  /** Major version number. */
  readonly version: number
  readonly vendor: boolean
}
export type IntentRisk = 'prohibited' | 'high_risk'

/** URNs in the spec's registry (`registry/intents.json`). */
export const REGISTERED_INTENTS: readonly string[] = []

/** Parse a URN; undefined when malformed. */
export function parseIntent(urn: string): ParsedIntent | undefined {
  void urn
  return undefined
}
/** Risk class from the spec's taxonomy, if any. */
export function intentRisk(urn: string): IntentRisk | undefined {
  void urn
  return undefined
}
/** An IicpError (`invalid_intent` or `IICP-POLICY-001`) when the URN must not be sent; undefined when fine. */
export function validateIntent(urn: unknown): IicpError | undefined {
  void urn
  return undefined
}
/** Throwing form of validateIntent; returns the parsed intent. */
export function assertIntent(urn: unknown): ParsedIntent {
  const err = validateIntent(urn)
  if (err) throw err
  const parsed = parseIntent(urn as string)
  if (!parsed) throw new IicpError('invalid_intent')
  return parsed
}
