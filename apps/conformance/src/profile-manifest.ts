/**
 * The spec's directory profile manifests (`iicp.conformance_test_manifest.v1`; conformance-runner fixtures,
 * wire.md §8): parse and validate one, resolve `${state}` references, judge a response by the case's named
 * assertion, and capture values for later cases. Facts follow the spec's reference runner; the code is ours.
 */
import { createHash } from 'node:crypto'
import { IicpError } from '@iicp/protocol'
import { PROFILE_MANIFESTS } from './fixtures.js'
import { PROFILE_FILES } from './fixtures-source.js'
import type { DirectoryProfile } from './fixtures-source.js'

/** One black-box HTTP case of a directory profile. */
export interface ProfileCase {
  readonly id: string
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
  readonly status: number
  readonly assertion: string
  readonly capture: Readonly<Record<string, string>>
}

/** A parsed profile manifest. */
export interface ProfileManifest {
  readonly profile: DirectoryProfile
  readonly suiteVersion: string
  /** The spec restricts this profile to loopback targets (it registers and deregisters nodes). */
  readonly loopbackOnly: boolean
  readonly tests: readonly ProfileCase[]
  /** `sha256:<hex>` over the manifest's exact bytes, as the spec's result shape wants. */
  readonly digest: string
}

const MANIFEST_SCHEMA = 'iicp.conformance_test_manifest.v1'
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
const STATE_NAME = /^[a-z][a-z0-9_]{0,63}$/
const STATE_REF = /\$\{([a-z][a-z0-9_]{0,63})\}/g
const CAPTURE_PATH = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/
const KNOWN_ASSERTIONS = new Set([
  'none', 'discovery_shape', 'score_range', 'json_error', 'json_error_without_fixture_content', 'dispatch_ticket_shape',
  'registration_shape', 'heartbeat_shape', 'deregister_shape',
])

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function references(value: unknown, into: Set<string>): Set<string> {
  if (typeof value === 'string') for (const m of value.matchAll(STATE_REF)) into.add(m[1] as string)
  else if (Array.isArray(value)) for (const v of value) references(v, into)
  else if (isRecord(value)) for (const v of Object.values(value)) references(v, into)
  return into
}

function bad(message: string): IicpError {
  return new IicpError('validation_error', `invalid conformance manifest: ${message}`)
}

/**
 * Parse and validate one manifest's text (the rules the spec's runner applies before it sends anything).
 * Throws IicpError `validation_error` naming the rule broken.
 */
export function parseManifest(text: string): ProfileManifest {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw bad('not JSON')
  }
  if (!isRecord(raw) || raw.schema !== MANIFEST_SCHEMA) throw bad('unsupported schema')
  const profile = raw.profile
  if (typeof profile !== 'string' || !(profile in PROFILE_FILES)) throw bad('unsupported profile')
  if (typeof raw.suite_version !== 'string') throw bad('suite_version missing')
  if (!Array.isArray(raw.tests) || raw.tests.length === 0) throw bad('no tests')
  const seen = new Set<string>()
  const state = new Set<string>()
  const tests = raw.tests.map((t: unknown): ProfileCase => {
    if (!isRecord(t) || typeof t.id !== 'string' || seen.has(t.id)) throw bad('test ids must be unique strings')
    seen.add(t.id)
    if (typeof t.method !== 'string' || !METHODS.has(t.method)) throw bad(`${t.id}: unsupported method`)
    if (typeof t.path !== 'string' || !t.path.startsWith('/') || t.path.startsWith('//')) throw bad(`${t.id}: invalid path`)
    const headers = t.headers ?? {}
    if (!isRecord(headers) || Object.entries(headers).some(([k, v]) => k !== 'Authorization' || typeof v !== 'string')) {
      throw bad(`${t.id}: only an Authorization header may be set`)
    }
    if (typeof t.status !== 'number' || typeof t.assertion !== 'string') throw bad(`${t.id}: status and assertion required`)
    if (!KNOWN_ASSERTIONS.has(t.assertion) && !t.assertion.startsWith('error_code:')) throw bad(`${t.id}: unknown assertion`)
    for (const ref of references([t.path, headers, t.body], new Set())) if (!state.has(ref)) throw bad(`${t.id}: unresolved state ${ref}`)
    const capture = t.capture ?? {}
    if (!isRecord(capture)) throw bad(`${t.id}: capture must be an object`)
    for (const [name, path] of Object.entries(capture)) {
      if (!STATE_NAME.test(name) || typeof path !== 'string' || !CAPTURE_PATH.test(path) || state.has(name)) throw bad(`${t.id}: bad capture`)
    }
    for (const name of Object.keys(capture)) state.add(name)
    return {
      id: t.id, method: t.method as ProfileCase['method'], path: t.path, headers: headers as Record<string, string>,
      body: t.body, status: t.status, assertion: t.assertion, capture: capture as Record<string, string>,
    }
  })
  return {
    profile: profile as DirectoryProfile,
    suiteVersion: raw.suite_version,
    loopbackOnly: raw.loopback_only === true,
    tests,
    digest: `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`,
  }
}

const parsed = new Map<DirectoryProfile, ProfileManifest>()

/** The embedded manifest of a profile, parsed once. */
export function profileManifest(profile: DirectoryProfile): ProfileManifest {
  let m = parsed.get(profile)
  if (!m) {
    const text = PROFILE_MANIFESTS[profile]
    if (text === undefined) throw bad(`${profile} is not embedded`)
    m = parseManifest(text)
    parsed.set(profile, m)
  }
  return m
}

/** Every embedded profile, parsed. */
export function allProfiles(): ProfileManifest[] {
  return (Object.keys(PROFILE_FILES) as DirectoryProfile[]).map(profileManifest)
}

/** Substitute `${name}` references; a missing value throws (the case then fails as `request_failed`). */
export function resolveState<T>(value: T, state: ReadonlyMap<string, string>): T {
  if (typeof value === 'string') {
    return value.replace(STATE_REF, (_m, name: string) => {
      const v = state.get(name)
      if (v === undefined) throw new Error('request state is unavailable')
      return v
    }) as T
  }
  if (Array.isArray(value)) return value.map((v: unknown) => resolveState(v, state)) as T
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveState(v, state)])) as T
  return value
}

/** Values named by a case's `capture`, or undefined when one is missing or not a non-empty string. */
export function captureValues(body: unknown, capture: Readonly<Record<string, string>>): Map<string, string> | undefined {
  const out = new Map<string, string>()
  for (const [name, path] of Object.entries(capture)) {
    let cur: unknown = body
    for (const part of path.split('.')) cur = isRecord(cur) ? cur[part] : undefined
    if (typeof cur !== 'string' || cur.length === 0) return undefined
    out.set(name, cur)
  }
  return out
}

function nodesOf(v: Record<string, unknown>): unknown {
  if (v.nodes !== undefined) return v.nodes
  return isRecord(v.data) ? v.data.nodes : undefined
}

/** Whether a response body satisfies a named assertion (the spec runner's assertion vocabulary). */
export function assertionPasses(name: string, text: string): boolean {
  if (name === 'none') return true
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return false
  }
  if (!isRecord(v)) return false
  const err = v.error
  switch (name) {
    case 'discovery_shape':
      return Array.isArray(nodesOf(v)) && Number.isInteger(v.count)
    case 'score_range': {
      const nodes = nodesOf(v)
      return Array.isArray(nodes) && nodes.every((n) => isRecord(n) && typeof n.score === 'number' && n.score >= 0.1 && n.score <= 1)
    }
    case 'json_error':
      return isRecord(err) && typeof err.code === 'string'
    case 'json_error_without_fixture_content':
      return isRecord(err) && typeof err.code === 'string' && !text.includes('fixture-only')
    case 'dispatch_ticket_shape':
      return typeof v.ticket === 'string' && v.ticket.length > 0 && isRecord(v.route) && v.data_class === 'ticketed_route_dispatch'
        && v.route_fields_present === true && v.prompt_payload_accepted === false
    case 'registration_shape':
      return typeof v.node_id === 'string' && v.node_id.length > 0 && typeof v.node_token === 'string' && v.node_token.length > 0
    case 'heartbeat_shape':
      return v.ok === true && Number.isInteger(v.next_heartbeat_ms) && (v.next_heartbeat_ms as number) > 0
    case 'deregister_shape':
      return v.deregistered === true
    default:
      if (name.startsWith('error_code:')) return isRecord(err) && err.code === name.slice('error_code:'.length)
      return false
  }
}
