/**
 * Rewrites the conformance table in the repository README (between the `conformance:start` and
 * `conformance:end` markers) from a live run of the runner's six README rows, SDK-01..06.
 * Run: `pnpm --filter @iicp/conformance readme`. test/readme-table.test.ts fails when the README drifts.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readmeTable, replaceReadmeTable } from '../src/readme-table.js'
import { runConformance } from '../src/index.js'

const readmePath = fileURLToPath(new URL('../../../README.md', import.meta.url))
const report = await runConformance({ only: ['SDK-01', 'SDK-02', 'SDK-03', 'SDK-04', 'SDK-05', 'SDK-06'] })
writeFileSync(readmePath, replaceReadmeTable(readFileSync(readmePath, 'utf8'), readmeTable(report)))
process.stdout.write(readmeTable(report) + '\n')
