/**
 * `--only` for `pnpm bench`: which benchmarks a run takes. A selector matches whole words, never a substring,
 * so `--only cli` picks `cli --help` and not `client submit` (whose package, `@iicp/client`, also contains "cli").
 */
import type { Benchmark } from './types.js'

/** A selector that names no benchmark; `pnpm bench` prints it with the names there are and exits 2. */
export class UnknownBenchmarkError extends Error {
  readonly selector: string
  constructor(selector: string, all: readonly Benchmark[]) {
    const pkgs = [...new Set(all.map((b) => b.pkg.replace(/^@iicp\//, '')))]
    super(`--only ${JSON.stringify(selector)} names no benchmark; packages: ${pkgs.join(', ')}; names: ${all.map((b) => b.name).join(', ')}`)
    this.name = 'UnknownBenchmarkError'
    this.selector = selector
  }
}

function words(s: string): string[] {
  return s.trim().toLowerCase().split(/\s+/).filter((w) => w !== '')
}

/**
 * Whether `selector` picks `b`: it equals the package (`@iicp/node` or `node`), or the leading whole words of
 * the name (`native` or `native transport` for "native transport"; `cli` for "cli --help"). Case-insensitive.
 */
export function selects(b: Benchmark, selector: string): boolean {
  const sel = words(selector)
  if (sel.length === 0) return false
  const pkg = b.pkg.toLowerCase()
  if (sel.length === 1 && (sel[0] === pkg || sel[0] === pkg.replace(/^@iicp\//, ''))) return true
  const name = words(b.name)
  return sel.length <= name.length && sel.every((w, i) => w === name[i])
}

/**
 * The benchmarks `--only` picks, in registration order: `only` is a comma-separated list of selectors
 * ({@link selects}); undefined or empty picks all. A selector that picks nothing throws
 * {@link UnknownBenchmarkError}, so a typo never runs an empty bench silently.
 */
export function selectBenchmarks(all: readonly Benchmark[], only: string | undefined): Benchmark[] {
  const selectors = (only ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (selectors.length === 0) return [...all]
  for (const s of selectors) {
    if (!all.some((b) => selects(b, s))) throw new UnknownBenchmarkError(s, all)
  }
  return all.filter((b) => selectors.some((s) => selects(b, s)))
}
