/**
 * Target policy: only http(s) URLs without credentials, on loopback unless --allow-remote; errors name the
 * option, never the URL. A directory given as its /api base is checked at its origin. Loopback-only spec
 * profiles are skipped (not run) against a target that is not loopback.
 */
import { describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import { DIRECTORY_CHECKS, checkTarget, isLoopbackHost } from '../src/index.js'
import { TargetHttp } from '../src/target-http.js'

describe('checkTarget', () => {
  it('treats 127.0.0.0/8, ::1 and localhost as loopback and nothing else', () => {
    for (const h of ['127.0.0.1', '127.9.8.7', '[::1]', '::1', 'localhost']) expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['10.0.0.1', '192.168.1.1', 'example.com', '0.0.0.0', '169.254.1.1']) expect(isLoopbackHost(h), h).toBe(false)
  })

  it('refuses a remote target without allowRemote, naming the option but not the URL', () => {
    let caught: unknown
    try {
      checkTarget('--directory', 'https://dir.example.org/api', false)
    } catch (err) {
      caught = err
    }
    expect(isIicpError(caught) && caught.code === 'invalid_config').toBe(true)
    expect((caught as Error).message).toContain('--directory')
    expect((caught as Error).message).not.toContain('example.org')
    expect(checkTarget('--directory', 'https://dir.example.org/api/', true)).toEqual({ url: 'https://dir.example.org/api', loopback: false })
  })

  it('refuses credentials, queries and non-http schemes even with allowRemote', () => {
    for (const raw of ['http://user:pw@127.0.0.1:9480', 'http://127.0.0.1:9480/?x=1', 'ftp://127.0.0.1/', 'not a url']) {
      expect(() => checkTarget('--node', raw, true), raw).toThrow(/--node/)
    }
  })
})

describe('loopback-only profiles', () => {
  it('skips the dispatch and lifecycle profiles on a non-loopback target without sending anything', async () => {
    let sent = 0
    class NoTraffic extends TargetHttp {
      override send(): never {
        sent += 1
        throw new Error('no request may leave for a non-loopback target here')
      }
    }
    const http = new NoTraffic(500)
    const ctx = { http, memo: new Map<string, Promise<unknown>>(), signal: new AbortController().signal }
    const target = { origin: 'http://203.0.113.9:9', loopback: false }
    try {
      for (const check of DIRECTORY_CHECKS.filter((c) => c.id.startsWith('DIR-DISPATCH') || c.id.startsWith('DIR-LIFECYCLE'))) {
        const r = await check.run(target, ctx)
        expect(r.status, check.id).toBe('skip')
        expect(r.reason).toContain('loopback')
      }
      expect(sent).toBe(0)
    } finally {
      await http.close()
    }
  })
})
