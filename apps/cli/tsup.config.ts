import { defineConfig } from 'tsup'

// The `iicp` bin (src/bin.ts, shebang kept, made executable by tsup) plus the small library entry.
// Sibling @iicp packages stay external so schemas and the IicpError brand exist once at run time;
// code splitting keeps each command in its own chunk, loaded only when that command runs.
export default defineConfig({
  entry: ['src/bin.ts', 'src/index.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { entry: 'src/index.ts' },
  splitting: true,
  clean: true,
  sourcemap: true,
  external: [/^@iicp\//],
})
