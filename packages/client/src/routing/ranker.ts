/**
 * The external candidate-ranker seam (official-sdks.md §2.4 step 3, "candidate evidence v0"): after policy and
 * strategy, a caller-supplied function sees redacted evidence of each eligible candidate (an opaque reference,
 * models, directory score, load, health label, reachability, region) and may pick one reference or decline.
 * It never sees node ids, endpoints, keys, tokens or the payload. An unknown reference, a throw or a non-string
 * answer refuses the task with `IICP-CANDIDATE-RANKER-REFUSED`, and nothing is sent.
 */
import { createHash, randomBytes } from 'node:crypto'
import { IicpError } from '@iicp/protocol'
import type { Candidate } from '../select-node.js'

/** Evidence format version. */
export const CANDIDATE_EVIDENCE_VERSION = 'iicp-candidate-evidence-v0'

/** What a ranker learns about one candidate. */
export interface CandidateEvidence {
  readonly evidence_version: typeof CANDIDATE_EVIDENCE_VERSION
  /** Opaque per-client sha256 reference: stable within one client, unlinkable across clients. */
  readonly ref: string
  readonly models: readonly string[]
  /** The directory's score, 0..1 (never a locally computed value). */
  readonly score: number
  readonly load: number | null
  readonly health_label: string | null
  readonly reachability: 'direct' | 'relay'
  readonly region: string | null
  /** Position after the strategy (0 = the strategy's pick). */
  readonly rank: number
}

/** Context given to a ranker. */
export interface RankerContext {
  readonly intent: string
  readonly strategy: string
  readonly signal: AbortSignal
}

/** A ranker: return one evidence `ref` to send there first, or `undefined`/`null` to keep the strategy's order. */
export type CandidateRanker = (evidence: readonly CandidateEvidence[], context: RankerContext) => string | null | undefined | Promise<string | null | undefined>

/** Outcome of consulting the ranker. */
export interface RankOutcome {
  readonly candidates: readonly Candidate[]
  readonly mode: 'picked' | 'declined'
}

/** Computes opaque references with a per-instance salt, remembering them per node (bounded). */
export class EvidenceRefs {
  readonly #salt = randomBytes(16)
  readonly #refs = new Map<string, string>()

  ref(nodeId: string): string {
    let r = this.#refs.get(nodeId)
    if (r === undefined) {
      r = createHash('sha256').update(this.#salt).update(nodeId).digest('hex')
      if (this.#refs.size >= 4096) this.#refs.clear()
      this.#refs.set(nodeId, r)
    }
    return r
  }
}

/** Redacted evidence for each candidate, in order. */
export function candidateEvidence(candidates: readonly Candidate[], refs: EvidenceRefs): CandidateEvidence[] {
  return candidates.map((c, rank) => Object.freeze({
    evidence_version: CANDIDATE_EVIDENCE_VERSION,
    ref: refs.ref(c.nodeId),
    models: Object.freeze([...(c.node.models ?? [])]),
    score: c.node.score,
    load: c.node.load ?? null,
    health_label: c.node.health_label ?? null,
    reachability: c.route,
    region: c.node.region ?? null,
    rank,
  }))
}

function refused(message: string, cause?: unknown): IicpError {
  return new IicpError('IICP-CANDIDATE-RANKER-REFUSED', message, { status: 502, retryable: false, ...(cause === undefined ? {} : { cause }) })
}

/** Ask the ranker; a pick moves that candidate first, a decline keeps the order. */
export async function consultRanker(
  ranker: CandidateRanker, candidates: readonly Candidate[], refs: EvidenceRefs, context: RankerContext,
): Promise<RankOutcome> {
  const evidence = candidateEvidence(candidates, refs)
  let answer: unknown
  try {
    answer = await ranker(Object.freeze(evidence), context)
  } catch (err) {
    // The ranker's own error may quote anything it was given; keep it as the cause, not in the message.
    throw refused('The candidate ranker failed', err)
  }
  if (answer === undefined || answer === null) return { candidates, mode: 'declined' }
  if (typeof answer !== 'string') throw refused('The candidate ranker answered with something other than a reference')
  const index = evidence.findIndex((e) => e.ref === answer)
  if (index < 0) throw refused('The candidate ranker picked a reference it was not given')
  if (index === 0) return { candidates, mode: 'picked' }
  const picked = candidates[index] as Candidate
  return { candidates: [picked, ...candidates.filter((_, i) => i !== index)], mode: 'picked' }
}
