/**
 * Rolling-window rate limits (wire.md §1.2: 60 registrations per rolling 60 s per source IP → 429 with `retry_after`
 * in the body and a Retry-After header; cts DIR-RL-01 wants `error.code: "rate_limited"`; §1.8: directory key 30 per
 * minute). Driven by an injected clock, never by sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { DirectoryOptions, RunningDirectory } from '@iicp/directory'
import { RateLimiter } from '../src/http/rate-limit.js'
import { call, errorOf, manualClock, registerBody } from './http-support.js'

describe('RateLimiter', () => {
  it('counts any window of the given length, not fixed windows', () => {
    const rl = new RateLimiter({ max: 3, windowMs: 1000 })
    // Two at the end of one "fixed" window, two right after its boundary: a fixed window would allow all four.
    expect(rl.hit('a', 900)).toBeUndefined()
    expect(rl.hit('a', 950)).toBeUndefined()
    expect(rl.hit('a', 1010)).toBeUndefined()
    expect(rl.hit('a', 1020)).toBe(880)
    // Once the request at 900 has left the window (1900 < t), one more fits; the next waits for 950's exit.
    expect(rl.hit('a', 1899)).toBe(1)
    expect(rl.hit('a', 1900)).toBeUndefined()
    expect(rl.hit('a', 1901)).toBe(49)
  })

  it('keeps clients apart and does not count refused requests', () => {
    const rl = new RateLimiter({ max: 1, windowMs: 1000 })
    expect(rl.hit('a', 0)).toBeUndefined()
    expect(rl.hit('b', 0)).toBeUndefined()
    for (let t = 1; t < 1000; t += 100) expect(rl.hit('a', t)).toBe(1000 - t)
    expect(rl.hit('a', 1000)).toBeUndefined()
  })

  it('stays exact over many windows while compacting its log', () => {
    const rl = new RateLimiter({ max: 5, windowMs: 100 })
    let allowed = 0
    for (let t = 0; t < 10_000; t++) if (rl.hit('a', t) === undefined) allowed++
    // 5 per 100 ms, exactly, over 100 windows.
    expect(allowed).toBe(500)
  })

  it('forgets idle clients on sweep', () => {
    const rl = new RateLimiter({ max: 1, windowMs: 1000 })
    rl.hit('a', 0)
    rl.sweep(999)
    expect(rl.hit('a', 999)).toBe(1)
    rl.sweep(1000)
    expect(rl.hit('a', 1000)).toBeUndefined()
  })
})

describe('directory rate limits over HTTP', () => {
  const open: RunningDirectory[] = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function directory(opts: DirectoryOptions): Promise<RunningDirectory> {
    const d = await startDirectory({ port: 0, pruneIntervalMs: 0, ...opts })
    open.push(d)
    return d
  }

  it('refuses the 61st registration in any 60 s with 429 rate_limited, retry_after (s), retry_after_ms and Retry-After', async () => {
    const clock = manualClock()
    const dir = await directory({ skipLivenessCheck: true, clock: clock.now })
    for (let i = 0; i < 30; i++) expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })).status).toBe(201)
    clock.advance(50_000)
    for (let i = 0; i < 30; i++) expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })).status).toBe(201)
    // 10 s later a fixed window would have reset; the first 30 are still inside the rolling 60 s.
    clock.advance(9_000)
    const limited = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    expect(limited.status).toBe(429)
    expect(errorOf(limited)).toMatchObject({ code: 'rate_limited', retry_after: 1, retry_after_ms: 1000 })
    expect(limited.headers['retry-after']).toBe('1')
    // At 60 s the first burst has left the window: 30 slots, while the second burst (at 50 s) still counts.
    clock.advance(1_000)
    for (let i = 0; i < 30; i++) expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })).status).toBe(201)
    const again = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    expect(again.status).toBe(429)
    expect(errorOf(again)).toMatchObject({ retry_after: 50, retry_after_ms: 50_000 })
  })

  it('limits GET /v1/directory-key to 30 per minute per IP', async () => {
    const clock = manualClock()
    const dir = await directory({ clock: clock.now })
    for (let i = 0; i < 30; i++) expect((await call(dir.url, 'GET', '/api/v1/directory-key')).status).toBe(200)
    const limited = await call(dir.url, 'GET', '/api/v1/directory-key')
    expect(limited.status).toBe(429)
    expect(errorOf(limited)).toMatchObject({ code: 'rate_limited', retry_after: 60 })
    expect(limited.text).not.toContain(dir.publicKeyHex)
    clock.advance(60_000)
    expect((await call(dir.url, 'GET', '/api/v1/directory-key')).json).toEqual({ public_key: dir.publicKeyHex, algorithm: 'ed25519' })
  })

  it('lets rateLimits.directoryKey be raised or switched off', async () => {
    const dir = await directory({ rateLimits: { directoryKey: false } })
    for (let i = 0; i < 40; i++) expect((await call(dir.url, 'GET', '/api/v1/directory-key')).status).toBe(200)
  })
})
