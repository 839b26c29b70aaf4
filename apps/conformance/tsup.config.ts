import { defineConfig } from 'tsup'

// Shared shape for every package: ESM only, types emitted, sibling @iicp packages kept external
// so schemas and the IicpError brand exist once at run time.
export default defineConfig({
  // main.ts is the runnable entry (dist/main.js); index.ts the library API apps/cli mounts.
  entry: ['src/index.ts', 'src/main.ts'],
  format: ['esm'],
  target: 'node20',
  dts: true,
  clean: true,
  sourcemap: true,
  external: [/^@iicp\//],
})
