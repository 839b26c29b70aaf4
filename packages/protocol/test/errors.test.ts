// Proves the error catalogue stays honest against the spec (every code wire.md §1.13/§2.4 names, with its
// documented status, and every code the spec fixtures use), that IicpError never carries a credential in its
// message, JSON or stack, and that errorFromResponse turns every body shape the reference implementations
// send (nested, flat, top-level, HTML, text, empty) into a typed IicpError with the right retry hints.
import type { NativeErrorCode } from '../src/native/frame.js'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERROR_CATALOGUE, IicpError, errorBody, errorFromResponse, isIicpError, statusOf } from '@iicp/protocol'
import { redactSecrets } from '../src/errors.js'

const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url))

// wire.md §1.13 and §2.4, copied as documented: code → HTTP status (undefined where the spec gives none).
const DOCUMENTED: ReadonlyArray<readonly [string, number | undefined]> = [
  // §1.13 directory error codes
  ['unauthorized', 401], ['not_found', 404], ['rate_limited', 429], ['liveness_failed', 422],
  ['validation_error', 422], ['IICP-E034', 429], ['IICP-E035', 422], ['IICP-E049', 403], ['IICP-E050', 403],
  ['IICP-E032', 401], ['IICP-E053', 413],
  ['IICP-E040', undefined], ['IICP-E041', undefined], ['IICP-E042', undefined], ['IICP-E043', undefined],
  ['IICP-E044', undefined], ['IICP-E045', undefined], ['IICP-E046', undefined], ['IICP-E047', undefined],
  ['IICP-E048', undefined], ['IICP-E013', undefined], ['IICP-E014', undefined],
  // §2.4 Phase-1 slug codes
  ['forbidden', 403], ['conflict', 409], ['capacity_exceeded', 429], ['task_timeout', 504],
  ['backend_error', 502], ['no_consensus', 502],
  // §2.4 other string codes
  ['unknown_intent', undefined], ['overloaded', undefined], ['timeout', undefined], ['no_available_node', undefined],
  ['invalid_config', undefined], ['IICP-POLICY-001', undefined], ['private_address', 422], ['invalid_target', 422],
  ['unsupported_profile', 422], ['deadline_unachievable', undefined], ['temporarily_unavailable', 503],
  ['policy_rejected', 403], ['tool_execution_denied', 403], ['reputation_too_low', 403], ['insufficient_credits', 402],
  ['relay_bind_rate_limited', 429], ['attestation_unavailable', 503], ['no_probe_data', 503],
  // §2.4 numeric catalogue
  ['IICP-E020', 403], ['IICP-E021', 503], ['IICP-E022', 503], ['IICP-E023', 429], ['IICP-E024', 504],
  ['IICP-E025', 422], ['IICP-E026', 422], ['IICP-E027', 422], ['IICP-E028', 422], ['IICP-E029', 404],
  ['IICP-E030', 404], ['IICP-E031', 502], ['IICP-E033', 503], ['IICP-E036', 402], ['IICP-E039', 503],
  ['IICP-E060', 422], ['IICP-E061', 422], ['IICP-E062', 400], ['IICP-E063', 422], ['IICP-E064', undefined],
  ['IICP-E065', undefined], ['IICP-E004', undefined], ['IICP-E005', undefined], ['IICP-E008', undefined],
  ['IICP-E001', undefined], ['IICP-E006', undefined], ['IICP-E012', undefined],
]

const CATALOGUE: Record<string, { status: number; retryable: boolean; message: string; wire: boolean } | undefined> =
  ERROR_CATALOGUE

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return jsonFiles(path)
    return name.endsWith('.json') ? [path] : []
  })
}

/** Error codes the spec and interop fixtures use: `IICP-…` tokens, `error_code:<x>` assertions and error `code`s. */
function fixtureCodes(): Set<string> {
  const codes = new Set<string>()
  const walk = (value: unknown, parentKey: string): void => {
    if (Array.isArray(value)) for (const v of value) walk(v, parentKey)
    else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'code' && parentKey === 'error' && typeof v === 'string') codes.add(v)
        walk(v, k)
      }
    } else if (typeof value === 'string') {
      for (const m of value.matchAll(/\bIICP-E\d{3}\b/g)) codes.add(m[0])
      const assertion = /^error_code:([A-Za-z0-9_-]+)$/.exec(value)
      if (assertion?.[1]) codes.add(assertion[1])
    }
  }
  for (const file of jsonFiles(FIXTURES)) walk(JSON.parse(readFileSync(file, 'utf8')), '')
  return codes
}

describe('the error catalogue', () => {
  it('holds exactly the 120 codes this SDK knows, so additions and removals are deliberate', () => {
    expect(Object.keys(ERROR_CATALOGUE)).toHaveLength(120)
  })

  it.each(DOCUMENTED)('contains %s with the status wire.md documents', (code, status) => {
    const spec = CATALOGUE[code]
    expect(spec, code).toBeDefined()
    if (status !== undefined) expect(spec?.status).toBe(status)
  })

  it('contains every error code the spec and interop fixtures use', () => {
    const codes = fixtureCodes()
    expect(codes.size).toBeGreaterThan(3)
    for (const code of codes) expect(CATALOGUE[code], code).toBeDefined()
  })

  it('gives every code an HTTP status, a retry flag, a message and a wire flag', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400)
      expect(spec.status, code).toBeLessThan(600)
      expect(typeof spec.retryable, code).toBe('boolean')
      expect(typeof spec.wire, code).toBe('boolean')
      expect(spec.message.length, code).toBeGreaterThan(3)
    }
  })

  it('marks IICP-E004, IICP-E005 and IICP-E008 retryable (SDK-ERR-02)', () => {
    for (const code of ['IICP-E004', 'IICP-E005', 'IICP-E008']) expect(new IicpError(code).retryable).toBe(true)
  })

  it('keeps 400, 401, 403, 409 and 422 slug codes non-retryable and 429/503 retryable (sem §6.1)', () => {
    for (const code of ['validation_error', 'unauthorized', 'forbidden', 'conflict', 'invalid_json']) {
      expect(CATALOGUE[code]?.retryable, code).toBe(false)
    }
    for (const code of ['rate_limited', 'capacity_exceeded', 'service_unavailable']) {
      expect(CATALOGUE[code]?.retryable, code).toBe(true)
    }
  })

  it('makes the policy refusal terminal (sem §1.3)', () => {
    expect(new IicpError('IICP-POLICY-001').retryable).toBe(false)
  })

  it('answers 500 from statusOf for a code it does not know', () => {
    expect(statusOf('IICP-E035')).toBe(422)
    expect(statusOf('no-such-code')).toBe(500)
  })
})

describe('IicpError', () => {
  it('takes status, retryable and message from the catalogue unless told otherwise', () => {
    const err = new IicpError('IICP-E034')
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('IicpError')
    expect([err.code, err.status, err.retryable, err.message]).toEqual(['IICP-E034', 429, true, 'Too many registration attempts'])
    const custom = new IicpError('IICP-E034', 'slow down', { status: 503, retryable: false })
    expect([custom.status, custom.retryable, custom.message]).toEqual([503, false, 'slow down'])
  })

  it('is recognised by its brand even when it comes from another copy of the package', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@iicp/protocol.IicpError')]: true })
    expect(isIicpError(foreign)).toBe(true)
    expect(isIicpError(new Error('x'))).toBe(false)
    expect(isIicpError(null)).toBe(false)
  })

  it('renders the wire envelope with fields, retry_after_ms and extra keys', () => {
    const err = new IicpError('capacity_exceeded', undefined, {
      retryAfterMs: 2000, extra: { qos_class: 'interactive' }, fields: { 'a.b': ['bad'] },
    })
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      error: { code: 'capacity_exceeded', message: 'Node at capacity', fields: { 'a.b': ['bad'] }, retry_after_ms: 2000, qos_class: 'interactive' },
    })
  })

  it('renders any other error as a bare server_error without its message or stack', () => {
    const body = errorBody(new Error('/home/alice/secret.db: SQLITE_CORRUPT'))
    expect(body).toEqual({ error: { code: 'server_error', message: 'An internal error occurred' } })
  })

  it('keeps the cause it was given', () => {
    const cause = new Error('socket hang up')
    expect(new IicpError('connection_failed', undefined, { cause }).cause).toBe(cause)
  })
})

describe('token redaction (SDK-06)', () => {
  const phpToken = 'NMSk9o7ovmdXf7ijRUOMdk1WcOgRTQUw5jhPcS0H'
  const hmacKey = '81826ccf4101dc4d831fc521dc2e6f69dc76cc012811901717a6560920b102a2'
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJweS1lY2hvLW5vZGUtMSIsImlzcyI6ImlpY3AubmV0d29yayJ9.AEmYq3x'

  it.each([
    ['a Bearer header', `Authorization: Bearer ${phpToken}`, phpToken],
    ['a short Bearer token', 'sent Bearer iicp_tok_example to the node', 'iicp_tok_example'],
    ['a node_token query parameter', 'GET /x?node_token=abc123def&y=1', 'abc123def'],
    ['a node_token JSON member', '{"node_id":"n1","node_token":"tok-short-1"}', 'tok-short-1'],
    ['a proxy_token assignment', 'proxy_token: QNgGvHwb', 'QNgGvHwb'],
    ['an opaque 40-character token', `token was ${phpToken}.`, phpToken],
    ['a 64-hex HMAC key', `key ${hmacKey}`, hmacKey],
    ['a JWT', `jwt ${jwt}`, 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'],
    ['a consumer token header', 'X-IICP-Consumer-Token: eyJ2IjoxfQ.abcdef0123', 'eyJ2IjoxfQ.abcdef0123'],
  ])('removes %s from messages', (_name, text, secret) => {
    const err = new IicpError('unauthorized', text)
    expect(err.message).not.toContain(secret)
    expect(err.message).toContain('[REDACTED]')
    expect(JSON.stringify(err)).not.toContain(secret)
    expect(err.stack ?? '').not.toContain(secret)
  })

  it('keeps ids that are not secrets: UUIDs, trace ids, URNs and hyphenated rule names', () => {
    const text = 'task 550e8400-e29b-41d4-a716-446655440000 trace 4bf92f3577b34da6a3ce929d0e0e4736 ' +
      'intent urn:iicp:intent:llm:chat:v1 rule eu-ai-act-nonconsensual-sexual-deepfake'
    expect(redactSecrets(text)).toBe(text)
  })

  it.each([
    ['a short Bearer token in an Authorization header', 'Authorization: Bearer abc', 'abc'],
    ['a short Bearer token in a JSON header dump', '{"authorization":"Bearer abc"}', 'abc'],
    ['a short lowercase token after a credential name', 'node_token=Bearer abc', 'abc'],
    ['an eight-letter word after Bearer', 'sent Bearer changeme to the node', 'changeme'],
    ['a short token with a digit', 'sent Bearer abc1 to the node', 'abc1'],
    ['a short token with a capital', 'sent Bearer Sesame to the node', 'Sesame'],
    ['a dotted short token', 'sent Bearer abc.def to the node', 'abc.def'],
    ['a 64-hex HMAC key ahead of a dot', `key ${hmacKey}.trailing`, hmacKey],
    ['a 64-hex HMAC key named as one next to a public key', `public_key=abc hmac_key: ${hmacKey}`, hmacKey],
    ['a 64-hex key in an unnamed position after a public key was named', `public key is ${hmacKey}`, hmacKey],
    ['a JWT whose first part is followed by a dot', `jwt ${jwt}`, 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'],
    ['a 40-character token ahead of a domain', `https://${phpToken}.example.com`, phpToken],
  ])('still removes %s', (_name, text, secret) => {
    expect(redactSecrets(text)).not.toContain(secret)
    expect(redactSecrets(text)).toContain('[REDACTED]')
  })

  it.each([
    ['prose after Bearer', 'Authorization must be a Bearer token'],
    ['prose after Bearer ending a sentence', 'Send a Bearer token.'],
    ['prose after Basic', 'use Basic auth instead'],
    ['prose after Token', 'Token expired'],
    ['a quick-tunnel hostname with a digit', 'node https://responded-ww2-administrative-relevant.trycloudflare.com unreachable'],
    ['a tunnel URL with a path', 'POST https://vcr-moss-3d-hd-seasonal-organisms-sf.trycloudflare.com/iicp/task failed'],
    ['a named Ed25519 public key', 'public_key: 8f2a1c9d4b7e3f6a0c5d8e1b4a7f2c9d6e3b0a5f8c1d4e7b2a9f6c3d0e5b8a1f'],
    ['a public key JSON member', '{"directory_public_key":"8f2a1c9d4b7e3f6a0c5d8e1b4a7f2c9d6e3b0a5f8c1d4e7b2a9f6c3d0e5b8a1f"}'],
  ])('keeps %s as written', (_name, text) => {
    expect(redactSecrets(text)).toBe(text)
  })

  it('keeps a public key in extra but still drops secrets beside it', () => {
    const pub = '8f2a1c9d4b7e3f6a0c5d8e1b4a7f2c9d6e3b0a5f8c1d4e7b2a9f6c3d0e5b8a1f'
    const err = new IicpError('IICP-SEC-REPLICA-01', undefined, { extra: { public_key: pub, detail: `hmac ${hmacKey}` } })
    expect(err.extra).toEqual({ public_key: pub, detail: 'hmac [REDACTED]' })
  })

  it('redacts field messages and extra values, and drops extra keys named like credentials', () => {
    const err = new IicpError('validation_error', undefined, {
      fields: { auth: [`bad token Bearer ${phpToken}`] },
      extra: { node_token: 'x', detail: { note: `key=${hmacKey}` } },
    })
    const json = JSON.stringify(err)
    expect(json).not.toContain(phpToken)
    expect(json).not.toContain(hmacKey)
    expect(err.extra).toEqual({ node_token: '[REDACTED]', detail: { note: 'key=[REDACTED]' } })
  })
})

describe('errorFromResponse', () => {
  it('reads the nested PHP validation envelope with its fields', () => {
    const body = '{"error":{"code":"validation_error","message":"Input validation failed","fields":{"capabilities.0.intent":["The capabilities.0.intent field format is invalid."]}}}'
    const err = errorFromResponse(422, body)
    expect(isIicpError(err)).toBe(true)
    expect([err.code, err.status, err.retryable, err.message]).toEqual(['validation_error', 422, false, 'Input validation failed'])
    expect(err.fields).toEqual({ 'capabilities.0.intent': ['The capabilities.0.intent field format is invalid.'] })
  })

  it('reads the flat IICP-E034 body and its retry_after seconds', () => {
    const err = errorFromResponse(429, '{"error":"IICP-E034","message":"TooManyRegistrationAttempts","retry_after":60}')
    expect([err.code, err.status, err.retryable, err.message, err.retryAfterMs]).toEqual(['IICP-E034', 429, true, 'TooManyRegistrationAttempts', 60_000])
  })

  it('reads a capacity answer with qos_class and retry_after_ms, preferring the body over Retry-After', () => {
    const body = '{"error":{"code":"capacity_exceeded","message":"capacity_exceeded","qos_class":"interactive","retry_after_ms":2000}}'
    const err = errorFromResponse(429, body, { 'Retry-After': '5' })
    expect([err.code, err.retryable, err.retryAfterMs]).toEqual(['capacity_exceeded', true, 2000])
    expect(err.extra).toEqual({ qos_class: 'interactive' })
    expect(err.toJSON().error).toMatchObject({ code: 'capacity_exceeded', retry_after_ms: 2000, qos_class: 'interactive' })
  })

  it('reads a top-level {code, message} body', () => {
    const err = errorFromResponse(503, '{"code":"IICP-E005","message":"overload"}')
    expect([err.code, err.status, err.retryable, err.message]).toEqual(['IICP-E005', 503, true, 'overload'])
  })

  it('reads a backend {error_code, error_message} body', () => {
    const err = errorFromResponse(502, '{"error_code":"backend_error","error_message":"upstream 500"}')
    expect([err.code, err.message, err.retryable]).toEqual(['backend_error', 'upstream 500', true])
  })

  it('reads the probe answer whose error is a bare code string', () => {
    const err = errorFromResponse(422, '{"error":"private_address"}')
    expect([err.code, err.message]).toEqual(['private_address', 'Probe target is a private address'])
  })

  it('treats a flat error string that is prose as the message', () => {
    const err = errorFromResponse(400, '{"error":"Something went wrong here"}')
    expect([err.code, err.message]).toEqual(['validation_error', 'Something went wrong here'])
  })

  it('never echoes an HTML body and falls back to the status code', () => {
    const html = '<!DOCTYPE html><html><body><h1>Error</h1><pre>Traceback at /home/user/app.py</pre></body></html>'
    const err = errorFromResponse(500, html, { 'content-type': 'text/html' })
    expect([err.code, err.status, err.message]).toEqual(['server_error', 500, 'HTTP 500 with a non-JSON body'])
    expect(JSON.stringify(err)).not.toContain('<')
  })

  it('marks a text 502 retryable and an empty 503 retryable with Retry-After seconds', () => {
    const text = errorFromResponse(502, 'Bad Gateway')
    expect([text.code, text.retryable, text.message]).toEqual(['backend_error', true, 'HTTP 502 with a non-JSON body'])
    const empty = errorFromResponse(503, '', { 'retry-after': ['7'] })
    expect([empty.code, empty.retryable, empty.retryAfterMs, empty.message]).toEqual(['service_unavailable', true, 7000, 'HTTP 503 with an empty body'])
  })

  it('reads Retry-After given as an HTTP date against the injected clock', () => {
    const now = Date.parse('2026-11-26T12:00:00Z')
    const err = errorFromResponse(429, '', { 'Retry-After': 'Thu, 26 Nov 2026 12:00:30 GMT' }, now)
    expect(err.retryAfterMs).toBe(30_000)
    const past = errorFromResponse(429, '', { 'Retry-After': 'Thu, 26 Nov 2026 11:00:00 GMT' }, now)
    expect(past.retryAfterMs).toBe(0)
  })

  it('ignores retry hints that are negative or not numbers', () => {
    expect(errorFromResponse(429, '{"error":{"code":"rate_limited","retry_after_ms":-5}}').retryAfterMs).toBeUndefined()
    expect(errorFromResponse(429, '', { 'Retry-After': 'soon' }).retryAfterMs).toBeUndefined()
  })

  it('keeps an unknown well-formed code and takes retryable from the status', () => {
    const unknown = errorFromResponse(503, '{"error":{"code":"IICP-VENDOR-FUTURE-01","message":"bad"}}')
    expect([unknown.code, unknown.status, unknown.retryable]).toEqual(['IICP-VENDOR-FUTURE-01', 503, true])
    const terminal = errorFromResponse(418, '{"error":{"code":"teapot_refused"}}')
    expect([terminal.code, terminal.retryable, terminal.message]).toEqual(['teapot_refused', false, 'HTTP 418'])
  })

  it('replaces a code that is not shaped like a code with one derived from the status', () => {
    const err = errorFromResponse(403, '{"error":{"code":"<script>alert(1)</script>","message":"nope"}}')
    expect([err.code, err.message]).toEqual(['forbidden', 'nope'])
  })

  it('keeps the status the peer sent even when the catalogue lists another', () => {
    const err = errorFromResponse(401, '{"error":{"code":"IICP-E021","message":"bad session token"}}')
    expect([err.code, err.status]).toEqual(['IICP-E021', 401])
  })

  it('describes a JSON body it cannot read without echoing it', () => {
    expect(errorFromResponse(500, '["a","b"]').message).toBe('HTTP 500 with an unrecognised JSON body')
    expect(errorFromResponse(500, '{"ok":false}').message).toBe('HTTP 500 with an unrecognised JSON body')
  })

  it('redacts a token a peer echoed into its message', () => {
    const err = errorFromResponse(401, '{"error":{"code":"unauthorized","message":"Invalid credentials for Bearer NMSk9o7ovmdXf7ijRUOMdk1WcOgRTQUw5jhPcS0H"}}')
    expect(err.message).toBe('Invalid credentials for Bearer [REDACTED]')
  })

  it('shortens very long messages and strips control characters', () => {
    const err = errorFromResponse(400, JSON.stringify({ error: { code: 'validation_error', message: `line1\nline2 ${'x '.repeat(400)}` } }))
    expect(err.message.startsWith('line1 line2')).toBe(true)
    expect(err.message.length).toBeLessThanOrEqual(301)
  })

  it('always returns an IicpError with a code-shaped code and never echoes markup, whatever the body', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), fc.oneof(fc.string(), fc.json()), (status, body) => {
        const err = errorFromResponse(status, `<p>${body}</p>`)
        expect(isIicpError(err)).toBe(true)
        expect(err.code).toMatch(/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/)
        expect(err.message).not.toContain('<')
        const json = errorFromResponse(status, body)
        expect(json.status).toBe(status)
      }),
    )
  })
})

describe('native transport codes', () => {
  it('has a catalogue entry for every native codec error code and relay_backpressure_exceeded', () => {
    // The Record type makes this list exhaustive at type-check time; the loop holds the catalogue to it.
    const nativeCodes: Record<NativeErrorCode, true> = {
      invalid_magic: true, invalid_version: true, version_mismatch: true, frame_too_large: true, truncated_header: true,
      truncated_payload: true, invalid_frame: true, invalid_type: true, unknown_type: true, unsupported_extension: true,
      cbor_decode_error: true, invalid_payload: true, protocol_error: true, fragment_timeout: true, fragment_limit_exceeded: true,
    }
    for (const code of [...Object.keys(nativeCodes), 'relay_backpressure_exceeded']) {
      expect(ERROR_CATALOGUE, code).toHaveProperty(code)
      expect(new IicpError(code).status, code).toBe((ERROR_CATALOGUE as Record<string, { status: number }>)[code]?.status)
    }
  })
})
