/**
 * What this proves: the hand-checked fast path of the long-poll body parsers (a result post on the relay, a pull
 * answer on the worker) never changes an outcome: for any JSON body, valid, nearly valid or wrong (fast-check), the
 * public parser returns what the zod schema returns, or throws what it throws. The fast path only ever takes
 * bodies the schema would return unchanged.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { parseWire } from '@iicp/protocol'
import { RelayPullResponseSchema, RelayResultRequestSchema, parseRelayPullResponse, parseRelayResultRequest } from '../src/index.js'

type Outcome = { ok: true; value: unknown } | { ok: false; code: unknown; fields: unknown }

function outcome(parse: () => unknown): Outcome {
  try {
    return { ok: true, value: parse() }
  } catch (err) {
    const e = err as { code?: unknown; extra?: unknown; fields?: unknown }
    return { ok: false, code: e.code, fields: e.fields ?? e.extra }
  }
}

/** What a body looks like after crossing the wire: JSON text parsed back (undefined keys gone). */
const wire = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => arb.map((v) => JSON.parse(JSON.stringify(v)) as unknown)

const headerName = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/), fc.string({ maxLength: 6 }))
const headerMap = fc.oneof(
  fc.dictionary(headerName, fc.string({ maxLength: 12 }), { maxKeys: 4 }),
  fc.dictionary(headerName, fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxKeys: 3 }),
  fc.constant(null), fc.constant([]), fc.string(),
)
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 3 })
/** JSON bodies written in ways JSON.stringify never writes, such as an own `__proto__` key. */
const handWritten = [
  '{"call_id":"c1","http_status":200,"http_headers":{"__proto__":"x"},"body":"{}"}',
  '{"call_id":"c1","task":{},"headers":{"__proto__":"x"}}',
  '{"call_id":"c1","task":{},"more":[{"call_id":"c2","task":1,"headers":{"__proto__":"x"}}]}',
  '{"__proto__":{"call_id":"c1"},"result":1}',
].map((t) => JSON.parse(t) as unknown)

describe('the result post parser', () => {
  const result = wire(fc.record({
    call_id: maybe(fc.oneof(fc.string({ maxLength: 140 }), fc.integer())),
    http_status: maybe(fc.oneof(fc.integer({ min: 100, max: 700 }), fc.double(), fc.string({ maxLength: 3 }))),
    http_headers: maybe(headerMap),
    body: maybe(fc.oneof(fc.string(), fc.integer())),
    result: maybe(fc.jsonValue({ maxDepth: 2 })),
    event: maybe(fc.string({ maxLength: 4 })),
    extra: maybe(fc.jsonValue({ maxDepth: 1 })),
  }, { requiredKeys: [] }))

  it('returns or throws exactly what the schema does, for any JSON body', () => {
    fc.assert(fc.property(fc.oneof(result, fc.jsonValue({ maxDepth: 2 })), (body) => {
      expect(outcome(() => parseRelayResultRequest(body))).toEqual(outcome(() => parseWire(RelayResultRequestSchema, body)))
    }), { numRuns: 1000 })
    for (const body of handWritten) {
      expect(outcome(() => parseRelayResultRequest(body))).toEqual(outcome(() => parseWire(RelayResultRequestSchema, body)))
    }
  })

  it('takes what this package\'s worker and a reference worker post', () => {
    const ours = { call_id: 'c1', http_status: 200, http_headers: { 'content-type': 'application/json' }, body: '{"ok":true}' }
    expect(parseRelayResultRequest(ours)).toEqual(ours)
    expect(parseRelayResultRequest({ call_id: 'c1', result: { echo: 'hi' } })).toEqual({ call_id: 'c1', result: { echo: 'hi' } })
    expect(outcome(() => parseRelayResultRequest({ call_id: 'c1', body: 'x' }))).toMatchObject({ ok: false, code: 'validation_error' })
  })
})

describe('the pull answer parser', () => {
  const pulled = fc.record({
    call_id: maybe(fc.oneof(fc.string({ maxLength: 40 }), fc.integer())),
    task: maybe(fc.jsonValue({ maxDepth: 2 })),
    headers: maybe(headerMap),
  }, { requiredKeys: [] })
  const pull = wire(fc.tuple(pulled, maybe(fc.oneof(fc.array(pulled, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })))).map(([first, more]) => ({ ...first, more })))

  it('returns or throws exactly what the schema does, for any JSON body', () => {
    fc.assert(fc.property(fc.oneof(pull, fc.jsonValue({ maxDepth: 2 })), (body) => {
      expect(outcome(() => parseRelayPullResponse(body))).toEqual(outcome(() => parseWire(RelayPullResponseSchema, body, 'invalid_response')))
    }), { numRuns: 1000 })
    for (const body of handWritten) {
      expect(outcome(() => parseRelayPullResponse(body))).toEqual(outcome(() => parseWire(RelayPullResponseSchema, body, 'invalid_response')))
    }
  })

  it('takes a batch as this package\'s relay sends it', () => {
    const batch = {
      call_id: 'c1', headers: { 'content-type': 'application/json' }, task: { task_id: 't1' },
      more: [{ call_id: 'c2', headers: {}, task: { task_id: 't2' } }],
    }
    expect(parseRelayPullResponse(batch)).toEqual(batch)
  })
})
