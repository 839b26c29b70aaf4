/**
 * Intent URN rules (wire.md §3; sem §1.1–§1.5) and the local refusal guardrail (sem §1.3, dir §3.4.1).
 *
 * The grammar accepted here is the union of what the spec's registry needs and what the PHP reference
 * directory accepts on REGISTER (`^urn:iicp:intent:(?:[a-z][a-z0-9_]*|x\.[a-z][a-z0-9-]*):[a-z][a-z0-9_-]*:v[1-9][0-9]*$`):
 *
 * ```
 * urn      = "urn:iicp:intent:" namespace *( ":" action-path ) ":v" major      ; at most 255 characters
 * namespace = std-ns / "x." label *( "." label )                               ; `x.<vendor>` = custom (sem §1.2)
 * std-ns    = %x61-7A *( %x61-7A / DIGIT / "_" / "-" )                         ; lowercase, starts with a letter
 * label     = ( %x61-7A / DIGIT ) *( %x61-7A / DIGIT / "_" / "-" )
 * action-path = label *( "/" label )                                            ; `mcp:tools/call`
 * major     = %x31-39 *8DIGIT                                                   ; v1, v2, … (no v0, no leading zero)
 * ```
 *
 * So `translate:v1` and `classify:v1` (no action), `mcp:tools/call:v1` (a `/` path) and every PHP-accepted URN
 * pass; uppercase, whitespace, empty segments, `v0` and every `+modifier` are refused (sem §1.5: official SDKs
 * reject any `+`). Comparison is exact and case-sensitive. The grammar is a subset of the registry schema regex
 * `^urn:iicp:intent:[a-z0-9_.-]+(?::[a-z0-9_./-]+)*:v[1-9][0-9]*$`.
 */
import { IicpError } from './errors.js'

export interface ParsedIntent {
  readonly urn: string
  /** Namespace, e.g. `llm` or `x.acme`. */
  readonly namespace: string
  /** Verb path after the namespace, e.g. `chat` or `tools/call`; `''` for `urn:iicp:intent:translate:v1`. */
  readonly action: string
  /** Major version number. */
  readonly version: number
  readonly vendor: boolean
}
/** A risk class that is refused on the public mesh (sem §1.3; spec/intent-risk-taxonomy.json). */
export type IntentRisk = 'prohibited' | 'high_risk'

/** One rule of the spec's intent-risk taxonomy: a URN containing any fragment belongs to `category`. */
export interface IntentRiskRule {
  readonly category: IntentRisk | 'transparency_risk'
  readonly rule_id: string
  readonly label: string
  readonly fragments: readonly string[]
}

/** Longest URN accepted (effective-capability-advertisement-v1.json `maxLength`). */
export const INTENT_URN_MAX_LENGTH = 255

/** URNs in the spec's registry (`registry/intents.json` v1.4.0, copied in fixtures/spec; a test checks drift). */
export const REGISTERED_INTENTS: readonly string[] = Object.freeze([
  'urn:iicp:intent:llm:chat:v1',
  'urn:iicp:intent:llm:completion:v1',
  'urn:iicp:intent:llm:embedding:v1',
  'urn:iicp:intent:code:lint:v1',
  'urn:iicp:intent:code:optimize:v1',
  'urn:iicp:intent:research:summarize:v1',
  'urn:iicp:intent:education:tutor:v1',
  'urn:iicp:intent:translate:v1',
  'urn:iicp:intent:classify:v1',
  'urn:iicp:intent:embedding:multimodal:v1',
  'urn:iicp:intent:mcp:tools/call:v1',
  'urn:iicp:intent:llm:summarize:v1',
  'urn:iicp:intent:llm:classify:v1',
  'urn:iicp:intent:llm:rerank:v1',
  'urn:iicp:intent:audio:transcribe:v1',
  'urn:iicp:intent:audio:speech:v1',
  'urn:iicp:intent:safety:moderate:v1',
])

const rule = (
  category: IntentRiskRule['category'], rule_id: string, label: string, fragments: string[],
): IntentRiskRule => Object.freeze({ category, rule_id, label, fragments: Object.freeze(fragments) })

/**
 * The spec's intent-risk taxonomy rules in file order (`spec/intent-risk-taxonomy.json` version 2026-07-09;
 * a test checks drift). The reference directory and SDKs match fragments as plain substrings of the
 * lowercased URN, first rule wins; this SDK does the same so it refuses exactly what the mesh refuses.
 */
export const INTENT_RISK_RULES: readonly IntentRiskRule[] = Object.freeze([
  rule('prohibited', 'eu-ai-act-social-scoring', 'social scoring', ['social-scoring', 'social_scoring', 'social:scoring']),
  rule('prohibited', 'eu-ai-act-criminal-risk', 'individual criminal risk prediction', ['criminal-risk', 'criminal_risk', 'criminal:risk', 'predict-crime']),
  rule('prohibited', 'eu-ai-act-workplace-education-emotion', 'workplace or education emotion recognition', ['emotion:workplace', 'emotion:education', 'workplace-monitoring', 'education-monitoring', 'worker-monitoring']),
  rule('prohibited', 'eu-ai-act-protected-trait-biometric', 'biometric protected-trait classification', ['protected-trait', 'protected_trait', 'biometric:protected']),
  rule('prohibited', 'eu-ai-act-untargeted-face-scraping', 'untargeted facial image scraping for recognition databases', ['untargeted-scraping', 'untargeted_scraping', 'face-scraping', 'facial-scraping']),
  rule('prohibited', 'eu-ai-act-realtime-remote-biometric-id', 'real-time remote biometric identification', ['remote-biometric:realtime', 'realtime-remote-biometric', 'real-time-remote-biometric']),
  rule('prohibited', 'eu-ai-act-nonconsensual-sexual-deepfake', 'non-consensual sexual deepfake or CSAM generation', ['nonconsensual-sexual', 'non-consensual-sexual', 'child-sexual-abuse', 'csam']),
  rule('high_risk', 'eu-ai-act-employment-workforce', 'employment, recruitment, worker management or worker monitoring decision', ['employment:hiring', 'employment:screen', 'employment:rank', 'recruitment:decision', 'workforce:decision', 'worker-management', 'worker:performance', 'worker:discipline']),
  rule('high_risk', 'eu-ai-act-education-admission-grading', 'education admission, assessment or grading decision', ['education:admission', 'education:grading', 'education:grade', 'student:admission', 'student:assess', 'exam-grading']),
  rule('high_risk', 'eu-ai-act-credit-essential-services', 'credit scoring or essential-services access decision', ['credit-scoring', 'credit:score', 'credit:decision', 'essential-services', 'benefits:eligibility', 'public-benefit:eligibility']),
  rule('high_risk', 'eu-ai-act-law-enforcement-border-justice', 'law enforcement, migration, asylum, border, justice or democratic-process decision', ['law-enforcement', 'law_enforcement', 'migration:decision', 'asylum:decision', 'border-control', 'justice:decision', 'democratic-process', 'election:decision']),
  rule('high_risk', 'eu-ai-act-healthcare-critical-infrastructure', 'healthcare decision or critical-infrastructure safety component', ['healthcare:decision', 'medical:diagnosis', 'medical:triage', 'clinical:decision', 'critical-infrastructure', 'grid:stabilize', 'hospital:surge-capacity']),
  rule('high_risk', 'eu-ai-act-physical-world-control', 'robotics, drone, IoT or physical-world control', ['robotics:control', 'robotics:fleet', 'drone:control', 'drone:search', 'iot:actuate', 'physical-world', 'system_control']),
  rule('transparency_risk', 'eu-ai-act-ai-interaction', 'AI interaction or generated content notice required', ['chatbot', 'ai-assistant', 'synthetic-media', 'deepfake:labelled', 'content:generate-public', 'creative:generate']),
])

const PREFIX = 'urn:iicp:intent:'
const LABEL = '[a-z0-9][a-z0-9_-]*'
const URN = new RegExp(
  `^urn:iicp:intent:([a-z][a-z0-9_-]*|x\\.${LABEL}(?:\\.${LABEL})*)((?::${LABEL}(?:/${LABEL})*)*):v([1-9][0-9]{0,8})$`,
)

/** Parse a URN against the grammar above; undefined when malformed (or when it carries a `+` modifier). */
export function parseIntent(urn: string): ParsedIntent | undefined {
  if (typeof urn !== 'string' || urn.length > INTENT_URN_MAX_LENGTH) return undefined
  const m = URN.exec(urn)
  if (!m) return undefined
  const namespace = m[1] as string
  const action = (m[2] as string).slice(1)
  return { urn, namespace, action, version: Number(m[3]), vendor: namespace.startsWith('x.') }
}

/** The first taxonomy rule of class prohibited or high_risk whose fragment the URN contains, if any (sem §1.3). */
export function intentRiskRule(urn: string): IntentRiskRule | undefined {
  const normalized = urn.trim().toLowerCase()
  for (const r of INTENT_RISK_RULES) {
    if (r.category === 'transparency_risk') continue
    if (r.fragments.some((f) => normalized.includes(f))) return r
  }
  return undefined
}

/** Risk class from the spec's taxonomy, if any (sem §1.3; dir §3.4.1). */
export function intentRisk(urn: string): IntentRisk | undefined {
  return intentRiskRule(urn)?.category as IntentRisk | undefined
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
}

function malformedReason(urn: string): string {
  if (urn.length > INTENT_URN_MAX_LENGTH) return `Intent URN is longer than ${INTENT_URN_MAX_LENGTH} characters`
  if (urn.includes('+')) return `Intent modifiers ("+…") are not supported: ${quote(urn)}`
  if (!urn.startsWith(PREFIX)) return `Intent URN must start with "${PREFIX}": ${quote(urn)}`
  return `Intent URN is malformed (expected urn:iicp:intent:<namespace>[:<action>]:v<major>, lowercase): ${quote(urn)}`
}

/**
 * Check a URN before anything is sent (SDK-03; sem §1.3, §1.5): an `invalid_intent` IicpError when malformed,
 * `IICP-POLICY-001` (terminal, not retryable) when the taxonomy refuses it, undefined when fine.
 */
export function validateIntent(urn: unknown): IicpError | undefined {
  if (typeof urn !== 'string') return new IicpError('invalid_intent', 'Intent URN must be a string')
  if (!parseIntent(urn)) return new IicpError('invalid_intent', malformedReason(urn))
  const risk = intentRiskRule(urn)
  if (risk) {
    return new IicpError(
      'IICP-POLICY-001',
      `Intent refused by risk policy: ${risk.label} (${risk.category}, ${risk.rule_id})`,
    )
  }
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
