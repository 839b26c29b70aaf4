/**
 * The runner embeds the spec's directory profiles in src/fixtures.ts; this proves the embedded text is the
 * repository's fixtures/ files byte for byte (so result digests match the spec runner's) and that the
 * generated module is exactly what scripts/generate-fixtures.ts would write today.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { PROFILE_MANIFESTS } from '../src/fixtures.js'
import { PROFILE_FILES, renderFixturesModule } from '../src/fixtures-source.js'

const SPEC_DIR = new URL('../../../fixtures/spec/conformance-runner/src/iicp_conformance/fixtures/', import.meta.url)

async function specTexts(): Promise<Record<string, string>> {
  const raw: Record<string, string> = {}
  for (const [profile, file] of Object.entries(PROFILE_FILES)) raw[profile] = await readFile(new URL(file, SPEC_DIR), 'utf8')
  return raw
}

describe('embedded directory profiles', () => {
  it('embeds each of the three spec manifests byte for byte', async () => {
    const raw = await specTexts()
    expect(Object.keys(PROFILE_MANIFESTS).sort()).toEqual(Object.keys(PROFILE_FILES).sort())
    for (const profile of Object.keys(PROFILE_FILES)) expect(PROFILE_MANIFESTS[profile]).toBe(raw[profile])
  })

  it('matches what the generator would write now, so regenerating changes nothing', async () => {
    const generated = renderFixturesModule(await specTexts())
    const onDisk = await readFile(new URL('../src/fixtures.ts', import.meta.url), 'utf8')
    expect(onDisk).toBe(generated)
  })
})
