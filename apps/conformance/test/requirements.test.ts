/**
 * The requirements list and the checks stay in step: every requirement id has exactly one check, every
 * check has a requirement, ids are unique, the README's six rows and the spec's SDK tests are all there
 * under distinct names, the directory ids are exactly the spec profiles' case ids, and every known-gap
 * entry names a real requirement.
 */
import { describe, expect, it } from 'vitest'
import {
  DIRECTORY_CHECKS, EXPECTED_FAILURES, EXPECTED_SKIPS, NODE_CHECKS, README_SDK_REQUIREMENTS, REQUIREMENTS, SDK_CHECKS, profileManifest,
} from '../src/index.js'

const CHECK_IDS = [...SDK_CHECKS, ...NODE_CHECKS, ...DIRECTORY_CHECKS].map((c) => c.id)

describe('requirements and checks', () => {
  it('has unique requirement ids and unique check ids', () => {
    expect(new Set(REQUIREMENTS.map((r) => r.id)).size).toBe(REQUIREMENTS.length)
    expect(new Set(CHECK_IDS).size).toBe(CHECK_IDS.length)
  })

  it('fails on any requirement without a check and any check without a requirement', () => {
    const reqIds = REQUIREMENTS.map((r) => r.id).sort()
    expect([...CHECK_IDS].sort()).toEqual(reqIds)
  })

  it('puts each check in the suite its requirement names', () => {
    const suiteOf = new Map(REQUIREMENTS.map((r) => [r.id, r.suite]))
    for (const c of SDK_CHECKS) expect(suiteOf.get(c.id)).toBe('sdk')
    for (const c of NODE_CHECKS) expect(suiteOf.get(c.id)).toBe('node')
    for (const c of DIRECTORY_CHECKS) expect(suiteOf.get(c.id)).toBe('directory')
  })

  it('lists the README six rows, the spec SDK tests and the client routing tests under distinct ids', () => {
    expect(README_SDK_REQUIREMENTS.map((r) => r.id)).toEqual(['SDK-01', 'SDK-02', 'SDK-03', 'SDK-04', 'SDK-05', 'SDK-06'])
    const ids = new Set(REQUIREMENTS.map((r) => r.id))
    for (const id of [
      'SPEC-SDK-01', 'SPEC-SDK-02', 'SPEC-SDK-03', 'SPEC-SDK-04', 'SPEC-SDK-05', 'SPEC-SDK-06',
      'SDK-DISC-01', 'SDK-DISC-02', 'SDK-ERR-01', 'SDK-ERR-02', 'SDK-NODE-01', 'SDK-NODE-02',
      'PROXY-ERR-01', 'PROXY-ERR-02', 'PROXY-TIMEOUT-02', 'QOS-ADMIT-02',
    ]) expect(ids.has(id), id).toBe(true)
  })

  it('covers exactly the case ids of the three spec directory profiles', () => {
    const caseIds = (['directory-public-v1', 'directory-dispatch-v1', 'directory-lifecycle-v1'] as const)
      .flatMap((p) => profileManifest(p).tests.map((c) => c.id))
    expect(caseIds).toHaveLength(21)
    expect(REQUIREMENTS.filter((r) => r.suite === 'directory').map((r) => r.id)).toEqual(caseIds)
  })

  it('gives every requirement a spec reference, a sentence and a level', () => {
    for (const r of REQUIREMENTS) {
      expect(r.ref.length, r.id).toBeGreaterThan(3)
      expect(r.text, r.id).toMatch(/^[A-Za-z0-9'"(]/)
      expect(r.text.endsWith('.'), r.id).toBe(true)
      expect(['MUST', 'SHOULD']).toContain(r.level)
    }
  })

  it('names only real requirement ids in the expected failures and skips', () => {
    const ids = new Set(REQUIREMENTS.map((r) => r.id))
    for (const id of [...Object.keys(EXPECTED_FAILURES), ...Object.keys(EXPECTED_SKIPS)]) expect(ids.has(id), id).toBe(true)
  })
})
