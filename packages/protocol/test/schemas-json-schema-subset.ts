// A small JSON Schema 2020-12 evaluator, only as large as the spec's own schemas need (type, enum,
// const, required, properties, additionalProperties, items, min/max, minItems, minLength, pattern,
// anyOf, oneOf, local $ref). `format` is asserted for `uuid` only, the one format the task and
// nodelist schemas lean on; other formats stay annotations as 2020-12 allows. Tests use it
// to compute the spec's verdict on a document, so our zod schemas can be held to agree with it.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type JsonSchema = { [k: string]: Json }

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function typeMatches(want: string, got: string): boolean {
  return want === got || (want === 'number' && got === 'integer')
}

/** Paths (dotted) where `value` breaks `schema`; empty when valid. */
export function jsonSchemaErrors(schema: JsonSchema, value: unknown, root: JsonSchema = schema, path = ''): string[] {
  const here = path || '(root)'
  const ref = schema.$ref
  if (typeof ref === 'string') {
    const name = ref.replace('#/$defs/', '')
    const defs = root.$defs as Record<string, JsonSchema>
    const target = defs[name]
    if (!target) throw new Error(`unsupported $ref ${ref}`)
    return jsonSchemaErrors(target, value, root, path)
  }
  const errs: string[] = []
  const t = schema.type
  if (t !== undefined) {
    const wants = Array.isArray(t) ? (t as string[]) : [t as string]
    if (!wants.some((w) => typeMatches(w, typeOf(value)))) return [here]
  }
  if (schema.enum !== undefined && !(schema.enum as Json[]).some((e) => e === value)) errs.push(here)
  if (schema.const !== undefined && schema.const !== value) errs.push(here)
  if (Array.isArray(schema.anyOf)) {
    if (!(schema.anyOf as JsonSchema[]).some((s) => jsonSchemaErrors(s, value, root, path).length === 0)) errs.push(here)
  }
  if (Array.isArray(schema.oneOf)) {
    if ((schema.oneOf as JsonSchema[]).filter((s) => jsonSchemaErrors(s, value, root, path).length === 0).length !== 1) errs.push(here)
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errs.push(here)
    if (typeof schema.maximum === 'number' && value > schema.maximum) errs.push(here)
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errs.push(here)
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errs.push(here)
    if (schema.format === 'uuid' && !UUID.test(value)) errs.push(here)
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errs.push(here)
    const items = schema.items
    if (items && typeof items === 'object' && !Array.isArray(items)) {
      value.forEach((v, i) => errs.push(...jsonSchemaErrors(items, v, root, path ? `${path}.${i}` : String(i))))
    }
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>
    for (const key of (schema.required ?? []) as string[]) {
      if (!(key in obj)) errs.push(path ? `${path}.${key}` : key)
    }
    for (const [key, v] of Object.entries(obj)) {
      const sub = props[key]
      const p = path ? `${path}.${key}` : key
      if (sub) errs.push(...jsonSchemaErrors(sub, v, root, p))
      else if (schema.additionalProperties === false) errs.push(p)
    }
  }
  return errs
}
