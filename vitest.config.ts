import { defineConfig } from 'vitest/config'

// One config for the whole workspace: tests import sibling packages from source through the
// `@iicp/source` export condition, so no build is needed before `vitest run`.
export default defineConfig({
  ssr: { resolve: { conditions: ['@iicp/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // The JSON report feeds .ci/run's closing line; the default reporter is for people.
    reporters: ['default', 'json'],
    outputFile: { json: 'vitest-results.json' },
  },
})
