// Proves, over generated bodies mixing valid and invalid values for every task.json field, that
// TaskRequestPhase1Schema gives task.json's verdict exactly, and that our lenient read schema
// accepts every Phase-1-valid body (except `v0` intents, which the registry grammar refuses).
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TaskRequestPhase1Schema, TaskRequestSchema } from '../src/index.js'
import { jsonSchemaErrors } from './schemas-json-schema-subset.js'
import type { JsonSchema } from './schemas-json-schema-subset.js'

const taskJson = JSON.parse(readFileSync(new URL('../../../fixtures/spec/schemas/task.json', import.meta.url), 'utf8')) as JsonSchema
const UUID = '550e8400-e29b-41d4-a716-446655440000'

const body = fc.record({
  task_id: fc.constantFrom(UUID, 'task-1', 123, ''),
  intent: fc.constantFrom(
    'urn:iicp:intent:llm:chat:v1', 'urn:openai:gpt4', 'urn:iicp:intent:translate:v1', 'urn:iicp:intent:x.acme:a:v1',
    'urn:iicp:intent:llm:chat:v0', 'urn:iicp:intent:LLM:chat:v1', 'urn:iicp:intent:code-x:lint_2:v12',
  ),
  payload: fc.constantFrom({}, { messages: [] }, [], 'x', null),
  constraints: fc.constantFrom(
    { timeout_ms: 5000 }, { timeout_ms: 99 }, { timeout_ms: 300_001 }, { timeout_ms: 100.5 }, { timeout_ms: '5000' },
    { timeout_ms: 5000, qos: 'realtime' }, { timeout_ms: 5000, qos: 'best-effort', region: 'eu-central' },
    { timeout_ms: 5000, priority: 'high' }, {}, 'x',
  ),
  trace: fc.constantFrom({ trace_id: 'abc' }, { origin_node: UUID }, { origin_node: 'node-1' }, { span_id: 'x' }, 5, {}),
  auth: fc.constantFrom({ node_token: 't' }, { node_token: '' }, {}, { node_token: 't', scope: 'x' }, { node_token: 7 }),
  billing: fc.constantFrom({ max_credits: 1 }, { max_credits: -1 }, { priority: 'premium' }, { priority: 'gold' }, {}),
  iicp_conf: fc.constant({ version: 1 }),
  cip: fc.constant({}),
}, { requiredKeys: [] })

/**
 * Bodies task.json accepts, drawn from the same pools. Mixed bodies above are almost never wholly valid (about one
 * in 100 000), so the lenient-read property gets a generator of its own instead of depending on a lucky seed.
 */
const phase1Body = fc.record({
  task_id: fc.constant(UUID),
  intent: fc.constantFrom('urn:iicp:intent:llm:chat:v1', 'urn:iicp:intent:code-x:lint_2:v12'),
  payload: fc.constantFrom({}, { messages: [] }),
  constraints: fc.constantFrom({ timeout_ms: 5000 }, { timeout_ms: 5000, qos: 'best-effort', region: 'eu-central' }),
  trace: fc.constantFrom({ trace_id: 'abc' }, { origin_node: UUID }, {}),
  auth: fc.constant({ node_token: 't' }),
  billing: fc.constantFrom({ max_credits: 1 }, { priority: 'premium' }, {}),
}, { requiredKeys: ['task_id', 'intent', 'payload', 'constraints', 'auth'] })

describe('TaskRequestPhase1Schema against task.json (wire.md §9 item 15)', () => {
  it('gives the same verdict as task.json on every generated body', () => {
    fc.assert(fc.property(body, (doc) => {
      const spec = jsonSchemaErrors(taskJson, doc).length === 0
      expect(TaskRequestPhase1Schema.safeParse(doc).success).toBe(spec)
    }), { numRuns: 2000, seed: 20261126 })
  })
  it('reads every Phase-1-valid body with the lenient TaskRequestSchema, except v0 intents', () => {
    fc.assert(fc.property(body, (doc) => {
      if (!TaskRequestPhase1Schema.safeParse(doc).success || doc.intent?.endsWith(':v0')) return
      expect(TaskRequestSchema.safeParse(doc).success).toBe(true)
    }), { numRuns: 4000, seed: 20261126 })
    fc.assert(fc.property(phase1Body, (doc) => {
      expect(jsonSchemaErrors(taskJson, doc)).toEqual([])
      expect(TaskRequestSchema.safeParse(doc).success).toBe(true)
    }), { numRuns: 500 })
  })
})
