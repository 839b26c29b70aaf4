// Proves the intent rules (wire.md §3): every URN in the spec registry and every `x.<vendor>` URN the PHP
// directory accepts passes; `+` modifiers and malformed URNs fail with invalid_intent; every prohibited and
// high-risk fragment of the spec taxonomy is refused with IICP-POLICY-001 before anything is sent; and the
// registry list and taxonomy embedded in the source still match the fixture files, so drift fails here.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { REGISTERED_INTENTS, assertIntent, intentRisk, parseIntent, validateIntent } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { INTENT_RISK_RULES } from '../src/intents.js'

interface Registry { intents: Array<{ urn: string }> }
interface Taxonomy { rules: Array<{ category: string; rule_id: string; label: string; fragments: string[] }> }

const readFixture = <T>(path: string): T =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/spec/${path}`, import.meta.url), 'utf8')) as T
const registry = readFixture<Registry>('registry/intents.json')
const taxonomy = readFixture<Taxonomy>('spec/intent-risk-taxonomy.json')
const refused = taxonomy.rules.filter((r) => r.category === 'prohibited' || r.category === 'high_risk')

/** A grammatical URN that contains the fragment: `a:b` fragments are namespace:action, others a namespace. */
function urnWith(fragment: string): string {
  return fragment.includes(':') ? `urn:iicp:intent:${fragment}:v1` : `urn:iicp:intent:${fragment}:run:v1`
}

describe('embedded spec data', () => {
  it('lists exactly the registry URNs of fixtures/spec/registry/intents.json, in order', () => {
    expect(REGISTERED_INTENTS).toEqual(registry.intents.map((i) => i.urn))
    expect(REGISTERED_INTENTS).toHaveLength(17)
  })

  it('holds exactly the rules of fixtures/spec/spec/intent-risk-taxonomy.json, in order', () => {
    expect(JSON.parse(JSON.stringify(INTENT_RISK_RULES))).toEqual(taxonomy.rules)
  })
})

describe('intent validation', () => {
  it.each(registry.intents.map((i) => i.urn))('accepts the registered intent %s', (urn) => {
    expect(validateIntent(urn)).toBeUndefined()
    expect(assertIntent(urn).urn).toBe(urn)
  })

  it.each([
    ['urn:iicp:intent:llm:chat:v1', 'llm', 'chat', 1, false],
    ['urn:iicp:intent:translate:v1', 'translate', '', 1, false],
    ['urn:iicp:intent:mcp:tools/call:v1', 'mcp', 'tools/call', 1, false],
    ['urn:iicp:intent:x.acme:summarize:v2', 'x.acme', 'summarize', 2, true],
    ['urn:iicp:intent:x.acme-labs.eu:doc_parse:v10', 'x.acme-labs.eu', 'doc_parse', 10, true],
    ['urn:iicp:intent:x.exp:a:b:v3', 'x.exp', 'a:b', 3, true],
  ])('parses %s into its parts', (urn, namespace, action, version, vendor) => {
    expect(parseIntent(urn)).toEqual({ urn, namespace, action, version, vendor })
  })

  it.each([
    'urn:iicp:intent:x.vendor:verb:v1',
    'urn:iicp:intent:x.acme:chat:v1',
    'urn:iicp:intent:llm_ext:chat-2:v12',
    'urn:iicp:intent:code:lint:v999999999',
  ])('accepts %s, which the PHP directory also accepts', (urn) => {
    expect(validateIntent(urn)).toBeUndefined()
  })

  it.each([
    ['a + modifier', 'urn:iicp:intent:llm:chat:v1+attested'],
    ['a + modifier mid-URN', 'urn:iicp:intent:llm:chat+fast:v1'],
    ['uppercase', 'urn:iicp:intent:LLM:chat:v1'],
    ['a missing version', 'urn:iicp:intent:llm:chat'],
    ['version 0', 'urn:iicp:intent:llm:chat:v0'],
    ['a leading-zero version', 'urn:iicp:intent:llm:chat:v01'],
    ['a wrong prefix', 'urn:iicp:task:llm:chat:v1'],
    ['no namespace', 'urn:iicp:intent::v1'],
    ['an empty segment', 'urn:iicp:intent:llm::chat:v1'],
    ['surrounding whitespace', ' urn:iicp:intent:llm:chat:v1'],
    ['a trailing slash in the action', 'urn:iicp:intent:mcp:tools/:v1'],
    ['a namespace starting with a digit', 'urn:iicp:intent:1llm:chat:v1'],
    ['an empty vendor', 'urn:iicp:intent:x.:chat:v1'],
    ['a bare word', 'chat'],
    ['the empty string', ''],
    ['a URN longer than 255 characters', `urn:iicp:intent:llm:${'a'.repeat(250)}:v1`],
  ])('refuses %s with invalid_intent', (_name, urn) => {
    const err = validateIntent(urn)
    expect(err?.code).toBe('invalid_intent')
    expect(err?.retryable).toBe(false)
    expect(parseIntent(urn)).toBeUndefined()
  })

  it('says that + modifiers are not supported', () => {
    expect(validateIntent('urn:iicp:intent:llm:chat:v1+attested')?.message).toMatch(/modifiers/)
  })

  it.each([undefined, null, 42, {}, ['urn:iicp:intent:llm:chat:v1']])('refuses the non-string %j', (value) => {
    expect(validateIntent(value)?.code).toBe('invalid_intent')
    expect(() => assertIntent(value)).toThrow(expect.objectContaining({ code: 'invalid_intent' }) as Error)
  })

  it('refuses any string containing a + whatever else it holds', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(validateIntent(`urn:iicp:intent:${a}+${b}:v1`)?.code).toBe('invalid_intent')
      }),
    )
  })

  it('accepts every URN built from the grammar', () => {
    const label = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/)
    const std = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/)
    const ns = fc.oneof(std, fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => `x.${l.join('.')}`))
    const action = fc.array(fc.array(label, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')), { maxLength: 2 })
    fc.assert(
      fc.property(ns, action, fc.integer({ min: 1, max: 999 }), (n, a, v) => {
        const urn = `urn:iicp:intent:${[n, ...a].join(':')}:v${v}`
        // A generated URN may happen to contain a taxonomy fragment; that is a policy refusal, not a parse failure.
        expect(parseIntent(urn)).toMatchObject({ namespace: n, action: a.join(':'), version: v })
      }),
    )
  })
})

describe('risk refusal (sem §1.3)', () => {
  const cases = refused.flatMap((r) => r.fragments.map((f) => [r.category, r.rule_id, f] as const))

  it.each(cases)('refuses a %s intent of rule %s containing "%s" with IICP-POLICY-001', (category, ruleId, fragment) => {
    const urn = urnWith(fragment)
    expect(parseIntent(urn), urn).toBeDefined()
    const err = validateIntent(urn) as IicpError
    expect(err.code).toBe('IICP-POLICY-001')
    expect(err.retryable).toBe(false)
    expect(err.message).toContain(ruleId)
    expect(intentRisk(urn)).toBe(category)
    expect(() => assertIntent(urn)).toThrow(expect.objectContaining({ code: 'IICP-POLICY-001' }) as Error)
  })

  it('refuses vendor intents that carry a fragment too', () => {
    expect(validateIntent('urn:iicp:intent:x.acme:csam-detect:v1')?.code).toBe('IICP-POLICY-001')
  })

  it('classifies the reference directory examples the same way it does', () => {
    expect(intentRisk('urn:iicp:intent:criminal-risk-prediction:v1')).toBe('prohibited')
    expect(intentRisk('urn:iicp:intent:credit:decision:v1')).toBe('high_risk')
    expect(intentRisk('urn:iicp:intent:ai-assistant:chat:v1')).toBeUndefined()
    expect(intentRisk('urn:iicp:intent:code:review:v1')).toBeUndefined()
  })

  it('lets transparency-risk intents through', () => {
    for (const f of taxonomy.rules.filter((r) => r.category === 'transparency_risk').flatMap((r) => r.fragments)) {
      expect(validateIntent(urnWith(f)), f).toBeUndefined()
    }
  })

  it('finds no risk in any registered intent', () => {
    for (const urn of REGISTERED_INTENTS) expect(intentRisk(urn), urn).toBeUndefined()
  })
})
