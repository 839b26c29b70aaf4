import { defineConfig } from 'tsup'

// Shared shape for every package: ESM only, types emitted, sibling @iicp packages kept external
// so schemas and the IicpError brand exist once at run time.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  dts: true,
  clean: true,
  sourcemap: true,
  external: [/^@iicp\//],
})
