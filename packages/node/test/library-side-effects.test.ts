/**
 * What this proves about every library package's source (packages/*\/src: protocol, client, nat, relay, directory,
 * node), read from the tree: nothing ends or re-executes the process (`process.exit`, `process.abort`,
 * `process.exitCode`, `process.reallyExit`, killing its own pid, `process.execPath`, `process.argv`), nothing
 * updates itself (no package-manager install, no registry `dist-tags` lookup), and the only files that start child
 * processes are the tunnel rung's two, which run `cloudflared` and `tailscale` and nothing else. The official SDKs
 * self-update hourly and exit under supervision (official-sdks.md §7, §8 item 22); here only the CLI may decide
 * to exit, and it never updates anything. A synthetic source shows each rule can fail.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))

function sources(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(sources(p))
    else if (/\.(ts|mts|js)$/.test(name)) out.push(p)
  }
  return out
}

/** Code lines only: comment lines (`//`, `/*`, ` *`) say what the code never does, which is fine. */
function code(text: string): string {
  return text.split('\n').filter((l) => !/^\s*(\/\/|\/\*|\*)/.test(l)).join('\n')
}

const RULES: ReadonlyArray<[string, RegExp]> = [
  ['ends the process', /process\s*\.\s*(exit|abort|reallyExit)\s*\(|process\s*\.\s*exitCode\s*=|process\s*\.\s*kill\s*\(\s*process\s*\.\s*pid/],
  ['re-executes itself', /process\s*\.\s*(execPath|argv)\b/],
  ['installs packages', /\b(npm|pnpm|yarn|npx|cargo|pip3?)\b['"]?\s*,?\s*\[?\s*['"]?(install|i|add|update|upgrade)\b|install\s+-g\b/],
  ['looks up a package registry', /registry\.npmjs\.org|\/-\/package\/|dist-tags|crates\.io\/api|pypi\.org\/pypi/],
]

/** The rules `text` breaks. */
function offences(text: string): string[] {
  const body = code(text)
  return RULES.filter(([, re]) => re.test(body)).map(([what]) => what)
}

const libraries = readdirSync(join(root, 'packages')).filter((p) => statSync(join(root, 'packages', p, 'src'), { throwIfNoEntry: false })?.isDirectory() === true)
const files = libraries.flatMap((p) => sources(join(root, 'packages', p, 'src')))

describe('the library has no process-level side effects', () => {
  it('reads every library package', () => {
    expect(libraries.sort()).toEqual(['client', 'directory', 'nat', 'node', 'protocol', 'relay'])
    expect(files.length).toBeGreaterThan(50)
  })

  it('catches each forbidden call in a synthetic source, and not in comments', () => {
    expect(offences('if (dead) process.exit(75)')).toEqual(['ends the process'])
    expect(offences('process.exitCode = 1')).toEqual(['ends the process'])
    expect(offences("spawn(process.execPath, process.argv.slice(1))")).toEqual(['re-executes itself'])
    expect(offences("execFile('npm', ['install', '-g', '@iicp/cli'])")).toEqual(['installs packages'])
    expect(offences('await fetch(`${registry}/-/package/@iicp%2fcli/dist-tags`)')).toEqual(['looks up a package registry'])
    expect(offences('// never process.exit(1) here\n * nor npm install -g\nconst ok = 1')).toEqual([])
  })

  it('no library source ends or re-executes the process, installs packages or asks a registry', () => {
    const found = files.flatMap((f) => offences(readFileSync(f, 'utf8')).map((what) => `${relative(root, f)}: ${what}`))
    expect(found).toEqual([])
  })

  it('only the tunnel rung starts child processes, and only cloudflared and tailscale', () => {
    const spawning = files.filter((f) => /child_process/.test(code(readFileSync(f, 'utf8')))).map((f) => relative(root, f)).sort()
    expect(spawning).toEqual(['packages/node/src/tunnel/detect.ts', 'packages/node/src/tunnel/quick-tunnel.ts'])
    const detect = code(readFileSync(join(root, spawning[0] as string), 'utf8'))
    const quick = code(readFileSync(join(root, spawning[1] as string), 'utf8'))
    // What each spawns: tailscale's status (found on the PATH by name), cloudflared's tunnel subcommand.
    expect([...detect.matchAll(/execFile\(\s*([A-Za-z_]+)\s*,\s*\[([^\]]*)\]/g)].map((m) => m[2]?.trim())).toEqual(["'funnel', 'status', '--json'"])
    expect(detect).toMatch(/findOnPath\(\s*'tailscale'/)
    expect([...quick.matchAll(/spawn\(\s*([A-Za-z_.]+)\s*,\s*\[([^\]]*)\]/g)].map((m) => m[2]?.trim())).toEqual(["'tunnel', '--no-autoupdate', '--url', a.localUrl"])
  })
})
