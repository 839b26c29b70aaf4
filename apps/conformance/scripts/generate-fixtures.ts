/**
 * Regenerates src/fixtures.ts from the spec's directory profile manifests in the repo's fixtures/ folder,
 * so the runner ships them embedded (byte for byte, which keeps the spec's `fixture_digest` identical).
 * Run: `pnpm --filter @iicp/conformance gen:fixtures`. test/fixtures-drift.test.ts fails when they drift.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { PROFILE_FILES, renderFixturesModule } from '../src/fixtures-source.js'

const root = new URL('../../../fixtures/spec/conformance-runner/src/iicp_conformance/fixtures/', import.meta.url)
const raw: Record<string, string> = {}
for (const [profile, file] of Object.entries(PROFILE_FILES)) raw[profile] = await readFile(new URL(file, root), 'utf8')
await writeFile(fileURLToPath(new URL('../src/fixtures.ts', import.meta.url)), renderFixturesModule(raw))
