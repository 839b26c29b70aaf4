/**
 * IicpError redacts its message at construction (redactSecrets), and the redactor reads `token: word`,
 * `token word` and `Bearer word` as credentials. A message written as prose with such a shape reaches users
 * mangled ("… nodeToken: '[REDACTED]' needs …"). This walks every package's and app's src/ and runs the
 * redactor over each literal that builds an IicpError: given directly to `new IicpError(…)`, or to a helper
 * in the same file that constructs one (`invalid(option, expected)`). Interpolations stand in as `X`, so
 * `token ${value}` is caught too. The catalogue's default messages get the same check.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { ERROR_CATALOGUE, IicpError, redactSecrets } from '../packages/protocol/src/index.js'

const root = fileURLToPath(new URL('..', import.meta.url))

function files(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(files(p))
    else if (/\.ts$/.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

function sourceDirs(): string[] {
  const dirs: string[] = []
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group))) {
      const src = join(root, group, name, 'src')
      try {
        if (statSync(src).isDirectory()) dirs.push(src)
      } catch {
        // a folder without src/ builds nothing that throws
      }
    }
  }
  return dirs
}

function isIicpErrorNew(node: ts.Node): node is ts.NewExpression {
  return ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'IicpError'
}

function contains(node: ts.Node, test: (n: ts.Node) => boolean): boolean {
  return test(node) || (ts.forEachChild(node, (c) => (contains(c, test) ? true : undefined)) ?? false)
}

/** Names of functions in this file whose body constructs an IicpError: their arguments become its text. */
function errorHelpers(file: ts.SourceFile): Set<string> {
  const names = new Set<string>()
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionDeclaration(node) && node.name && node.body && contains(node.body, isIicpErrorNew)) names.add(node.name.text)
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer
      && (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer))
      && contains(node.initializer, isIicpErrorNew)) names.add(node.name.text)
    ts.forEachChild(node, visit)
  }
  visit(file)
  return names
}

function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => `X${s.literal.text}`).join('')
  return undefined
}

/** The literals in one file's source that redactSecrets would change, as `path:line "text" → "redacted"`. */
function scan(path: string, source: string): string[] {
  const found: string[] = []
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true)
  const helpers = errorHelpers(file)
  const check = (node: ts.Node): void => {
    const text = literalText(node)
    if (text !== undefined) {
      // The redactor leaves text under 8 characters alone; the prefix makes short fragments count.
      const padded = `........ ${text}`
      const out = redactSecrets(padded)
      if (out !== padded) {
        const line = file.getLineAndCharacterOfPosition(node.getStart()).line + 1
        found.push(`${relative(root, path)}:${line} ${JSON.stringify(text)} → ${JSON.stringify(out.slice(9))}`)
      }
    }
    ts.forEachChild(node, check)
  }
  const visit = (node: ts.Node): void => {
    if (isIicpErrorNew(node)) node.arguments?.forEach(check)
    else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && helpers.has(node.expression.text)) node.arguments.forEach(check)
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

describe('error messages survive redaction', () => {
  it('no literal that builds an IicpError in packages/*/src or apps/*/src is changed by redactSecrets', { timeout: 60_000 }, () => {
    // Only a file that names IicpError can construct one (helpers count only in their own file).
    const found = sourceDirs().flatMap((dir) => files(dir).flatMap((path) => {
      const source = readFileSync(path, 'utf8')
      return source.includes('IicpError') ? scan(path, source) : []
    }))
    expect(found).toEqual([])
  })

  it('flags the shapes it guards against, directly and through a helper (so a clean scan means something)', () => {
    const source = [
      "function invalid(option: string, expected: string) { return new IicpError('invalid_config', `${option} must be ${expected}`) }",
      "throw invalid('consumerAuthMode', \"'optional' without a nodeToken: 'required' needs it\")",
      "throw new IicpError('invalid_response', 'the consumer-token response failed')",
      "throw new IicpError('unauthorized', `sent Bearer ${token}`)",
      "log.debug({}, 'consumer token refused')",
      "throw new IicpError('invalid_config', 'nodeToken must be a string')",
    ].join('\n')
    expect(scan(join(root, 'synthetic.ts'), source).map((f) => f.split(' ')[0])).toEqual(['synthetic.ts:2', 'synthetic.ts:3', 'synthetic.ts:4'])
  })

  it('every catalogue message reads as written when it becomes an IicpError', () => {
    const changed = Object.entries(ERROR_CATALOGUE)
      .filter(([code, spec]) => spec !== undefined && new IicpError(code).message !== spec.message)
      .map(([code, spec]) => `${code}: ${spec?.message} → ${new IicpError(code).message}`)
    expect(changed).toEqual([])
  })
})
