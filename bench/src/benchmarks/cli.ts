/** apps/cli: `iicp --help` start-up beside `node -e 0`, both as plain node processes, interleaved. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { externalByPath } from '../harness/process.js'
import { median } from '../harness/stats.js'
import type { Benchmark } from '../harness/types.js'

function wallMs(args: string[]): number {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 200)}`)
  return performance.now() - t0
}

export const cliBench: Benchmark = {
  name: 'cli --help',
  pkg: '@iicp/cli',
  async run(ctx) {
    // Built the way tsup ships it (ESM with code splitting, so commands load lazily), but with the @iicp
    // packages bundled from source so no prior build is needed.
    const { build } = await import('esbuild')
    const outdir = fileURLToPath(new URL('../../.build/cli/', import.meta.url))
    await build({
      entryPoints: [fileURLToPath(new URL('../../../apps/cli/src/bin.ts', import.meta.url))], outdir, bundle: true, splitting: true,
      format: 'esm', platform: 'node', target: 'node20', conditions: ['@iicp/source'], logLevel: 'error',
      plugins: [externalByPath],
    })
    const bin = `${outdir}bin.js`
    const runs = ctx.quick ? 5 : 20
    const help: number[] = []
    const bare: number[] = []
    for (let i = 0; i < runs; i++) {
      bare.push(wallMs(['-e', '0']))
      help.push(wallMs([bin, '--help']))
    }
    const h = median(help)
    const b = median(bare)
    return [{
      name: 'cli --help', metric: 'start-up wall time',
      candidate: { label: 'iicp --help (bundled bin)', p50Ms: h }, baseline: { label: 'node -e 0', p50Ms: b },
      value: h / b,
      notes: `wall time from spawn to exit of \`node <bundle> --help\` (apps/cli/src/bin.ts bundled by esbuild like tsup's dist: ESM, `
        + `code-split, @iicp packages inlined from source, third-party ones loaded from node_modules) vs \`node -e 0\`; both pay Node's own start-up; median of ${runs} interleaved runs each`,
    }]
  },
}
