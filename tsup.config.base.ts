import { defineConfig } from 'tsup'
import type { Options } from 'tsup'

/**
 * The one build shape every package shares: ESM only for Node 20, type declarations emitted, and sibling @iicp
 * packages kept external so schemas and the IicpError brand exist once at run time. Packages pass only what
 * differs (their entries). A move to another bundler touches this file.
 */
export function packageBuild(overrides: Options = {}): ReturnType<typeof defineConfig> {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    dts: true,
    clean: true,
    sourcemap: true,
    external: [/^@iicp\//],
    ...overrides,
  })
}
