/**
 * `main()` in-process against buffer streams: help goes to stdout with exit 0, a missing command is a usage
 * error (exit 2), every command offers `--json` and `--help`, and `iicp --help` stays light because the
 * modules it loads statically import no SDK package, table or spinner code.
 */
import { readFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/program.js'
import type { CliIo } from '../src/output.js'

function bufferIo(): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void): Writable => new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      append(chunk.toString())
      cb()
    },
  })
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: { NO_COLOR: '1' },
    out: () => out,
    err: () => err,
  }
}

const argv = (...args: string[]): string[] => ['node', 'iicp', ...args]

describe('main()', () => {
  it('prints help on stdout and exits 0 for --help', async () => {
    const io = bufferIo()
    expect(await main(argv('--help'), io)).toBe(0)
    expect(io.out()).toContain('Usage: iicp [options] [command]')
    expect(io.out()).toContain('iicp mesh --demo')
    expect(io.err()).toBe('')
  })

  it('prints the package version and exits 0', async () => {
    const io = bufferIo()
    expect(await main(argv('--version'), io)).toBe(0)
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(io.out().trim()).toBe(pkg.version)
  })

  it('exits 2 with help on stderr when no command is given', async () => {
    const io = bufferIo()
    expect(await main(argv(), io)).toBe(2)
    expect(io.err()).toContain('Usage: iicp [options] [command]')
    expect(io.out()).toBe('')
  })

  it('exits 2 for an unknown command, suggesting the closest one', async () => {
    const io = bufferIo()
    expect(await main(argv('dicsover'), io)).toBe(2)
    expect(io.err()).toContain("error: unknown command 'dicsover'")
    expect(io.err()).toContain('(Did you mean discover?)')
  })

  it('exits 2 when a required argument is missing', async () => {
    const io = bufferIo()
    expect(await main(argv('submit', 'llm:chat:v1'), io)).toBe(2)
    expect(io.err().trim().split('\n')).toEqual([
      "error: required option '--payload <json|@file>' not specified",
      'usage: iicp submit [options] <intent>',
    ])
  })

  it('renders a commander usage error as JSON on stdout when --json is given', async () => {
    const io = bufferIo()
    expect(await main(argv('discover', 'llm:chat:v1', '--limit', '99', '--json'), io)).toBe(2)
    expect(JSON.parse(io.out())).toEqual({
      error: {
        code: 'usage_error',
        message: "option '-l, --limit <n>' argument '99' is invalid. expected a whole number from 1 to 50",
        hint: 'usage: iicp discover [options] <intent>',
      },
    })
    expect(io.err()).toBe('')
  })

  it('refuses --backend openai without --base-url before anything listens', async () => {
    const io = bufferIo()
    expect(await main(argv('node', 'serve', '--backend', 'openai', '--model', 'llama3', '--directory', 'http://127.0.0.1:9/api'), io)).toBe(2)
    expect(io.err()).toContain('--backend openai needs --base-url')
  })

  it.each([
    ['mesh'], ['directory', 'serve'], ['node', 'serve'], ['discover'], ['chat'], ['submit'], ['proxy'],
  ])('offers --json and --help on `iicp %s`', async (...cmd: string[]) => {
    const io = bufferIo()
    expect(await main(argv(...cmd, '--help'), io)).toBe(0)
    expect(io.out()).toContain('--json')
    expect(io.out()).toContain('-h, --help')
  })

  it('hands `conformance --help` and its usage errors to the conformance runner', async () => {
    const help = bufferIo()
    expect(await main(argv('conformance', '--help'), help)).toBe(0)
    expect(help.out()).toContain('--directory <url>')
    const bad = bufferIo()
    expect(await main(argv('conformance', '--check-timeout', '5'), bad)).toBe(2)
    expect(bad.err()).toBe('error: --check-timeout must be an integer in 100..600000\n')
  })

  it('lists the OpenAI, Ollama and Anthropic routes in `iicp proxy --help`', async () => {
    const io = bufferIo()
    expect(await main(argv('proxy', '--help'), io)).toBe(0)
    const help = io.out()
    expect(help).toContain('serve OpenAI-, Ollama- and Anthropic-compatible APIs')
    expect(help).toMatch(/^ {2}OpenAI +POST \/v1\/chat\/completions, GET \/v1\/models +OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:9483\/v1$/m)
    expect(help).toMatch(/^ {2}Ollama +POST \/api\/chat, GET \/api\/tags, GET \/api\/version +OLLAMA_HOST=http:\/\/127\.0\.0\.1:9483$/m)
    expect(help).toMatch(/^ {2}Anthropic +POST \/v1\/messages +ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:9483$/m)
  })

  it.each([['directory', 'serve'], ['mesh']])('offers --skip-liveness-check with its variable on `iicp %s`', async (...cmd: string[]) => {
    const io = bufferIo()
    expect(await main(argv(...cmd, '--help'), io)).toBe(0)
    expect(io.out().replace(/\s+/g, ' ')).toContain('--skip-liveness-check list registrations without probing their /iicp/health (test mode, e.g. for `iicp conformance`; env: IICP_SKIP_LIVENESS_CHECK)')
  })

  it('names the IICP_* variable behind each node serve flag in its help', async () => {
    const io = bufferIo()
    await main(argv('node', 'serve', '--help'), io)
    for (const name of ['IICP_DIRECTORY_URL', 'IICP_PORT', 'IICP_PUBLIC_ENDPOINT', 'IICP_REGION', 'IICP_BACKEND', 'IICP_BASE_URL', 'IICP_MODEL', 'IICP_MAX_CONCURRENT']) {
      expect(io.out().replace(/\s+/g, ' ')).toContain(`env: ${name}`)
    }
  })
})

describe('the --help import graph', () => {
  it('has no static import of SDK packages, tables or spinners', async () => {
    for (const file of ['bin.ts', 'program.ts', 'env.ts', 'exit.ts', 'flags.ts']) {
      const text = await readFile(new URL(`../src/${file}`, import.meta.url), 'utf8')
      const statics = [...text.matchAll(/^import (?!type )[^\n]* from '([^']+)'/gm)].map((m) => m[1])
      expect(statics.filter((s) => s !== undefined && !['commander', './env.js', './exit.js', './flags.js'].includes(s)), file).toEqual([])
    }
  })
})
