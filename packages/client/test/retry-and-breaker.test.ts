/**
 * The pure decision functions behind failover: backoff 200 ms × 2ⁿ ± 20% (sem §6.1), the next node's remaining
 * Retry-After as a floor on the wait and never past the deadline, capacity_exceeded as an immediate switch, final
 * 4xx codes; and the per-node circuit breaker (5 failures → open 30 s → one half-open probe) on an injected clock.
 */
import { describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { CircuitBreakers, backoffDelay, classifyFailure, retryDecision } from '../src/index.js'

const base = { attemptsMade: 1, maxAttempts: 3, retryIndex: 0, remainingMs: 10_000, baseDelayMs: 200, random: () => 0.5 }

describe('retry decisions', () => {
  it('backs off 200 ms × 2ⁿ with ±20% jitter from the injected random', () => {
    expect([0, 1, 2].map((n) => backoffDelay(n, 200, () => 0.5))).toEqual([200, 400, 800])
    expect(backoffDelay(0, 200, () => 0)).toBe(160)
    expect(backoffDelay(1, 200, () => 1 - Number.EPSILON)).toBe(480)
  })

  it('classifies 400/401/403/409/422 as final, capacity_exceeded as switch, the rest as retry', () => {
    for (const s of [400, 401, 403, 409, 422]) expect(classifyFailure(new IicpError('x', 'm', { status: s }))).toBe('final')
    expect(classifyFailure(new IicpError('capacity_exceeded'))).toBe('switch')
    expect(classifyFailure(new IicpError('IICP-E021', 'capacity_exceeded', { status: 429 }))).toBe('switch')
    for (const code of ['connection_failed', 'timeout', 'invalid_response', 'service_unavailable', 'rate_limited', 'server_error', 'backend_error']) {
      expect(classifyFailure(new IicpError(code))).toBe('retry')
    }
    expect(classifyFailure(new IicpError('aborted'))).toBe('final')
  })

  it('waits for what remains of the next node\'s Retry-After when that is longer than the backoff', () => {
    const error = new IicpError('rate_limited', 'x', { retryAfterMs: 1500 })
    expect(retryDecision({ ...base, error, notBeforeMs: 1500 })).toEqual({ retry: true, delayMs: 1500, excludeNode: false })
    expect(retryDecision({ ...base, error, notBeforeMs: 150 })).toEqual({ retry: true, delayMs: 200, excludeNode: false })
    // The error's own Retry-After is about the node that sent it; only the next node's time counts here.
    expect(retryDecision({ ...base, error })).toEqual({ retry: true, delayMs: 200, excludeNode: false })
  })

  it('stops when the wait would not fit in the remaining deadline', () => {
    const error = new IicpError('rate_limited', 'x', { retryAfterMs: 5000 })
    expect(retryDecision({ ...base, error, notBeforeMs: 5000, remainingMs: 4000 })).toEqual({ retry: false, reason: 'deadline' })
    expect(retryDecision({ ...base, error, remainingMs: 150 })).toEqual({ retry: false, reason: 'deadline' })
  })

  it('stops after the attempt budget and on final errors', () => {
    expect(retryDecision({ ...base, error: new IicpError('server_error'), attemptsMade: 3 })).toEqual({ retry: false, reason: 'attempts_exhausted' })
    expect(retryDecision({ ...base, error: new IicpError('unauthorized') })).toEqual({ retry: false, reason: 'final' })
  })

  it('switches immediately, excluding the node, on capacity_exceeded', () => {
    expect(retryDecision({ ...base, error: new IicpError('capacity_exceeded', 'full', { retryAfterMs: 2000 }) })).toEqual({ retry: true, delayMs: 0, excludeNode: true })
  })

  it('switches without backoff but still waits out the next node\'s Retry-After', () => {
    const error = new IicpError('capacity_exceeded', 'full')
    expect(retryDecision({ ...base, error, notBeforeMs: 900 })).toEqual({ retry: true, delayMs: 900, excludeNode: true })
    expect(retryDecision({ ...base, error, notBeforeMs: 20_000 })).toEqual({ retry: false, reason: 'deadline' })
  })
})

describe('circuit breaker', () => {
  it('opens after 5 consecutive failures, stays open 30 s, then admits exactly one half-open probe', () => {
    let now = 1_000
    const b = new CircuitBreakers(5, 30_000, () => now)
    for (let i = 0; i < 4; i++) b.failure('n1')
    expect(b.state('n1')).toBe('closed')
    b.failure('n1')
    expect(b.state('n1')).toBe('open')
    expect(b.allows('n1')).toBe(false)
    now += 29_999
    expect(b.allows('n1')).toBe(false)
    now += 1
    expect(b.state('n1')).toBe('half_open')
    expect(b.allows('n1')).toBe(true)
    b.begin('n1')
    expect(b.allows('n1')).toBe(false)
    b.success('n1')
    expect(b.state('n1')).toBe('closed')
  })

  it('reopens for another 30 s when the half-open probe fails', () => {
    let now = 0
    const b = new CircuitBreakers(5, 30_000, () => now)
    for (let i = 0; i < 5; i++) b.failure('n1')
    now = 30_000
    b.begin('n1')
    b.failure('n1')
    expect(b.state('n1')).toBe('open')
    now = 59_999
    expect(b.allows('n1')).toBe(false)
    now = 60_000
    expect(b.allows('n1')).toBe(true)
  })

  it('resets the failure count on success', () => {
    const b = new CircuitBreakers(5, 30_000, () => 0)
    for (let i = 0; i < 4; i++) b.failure('n1')
    b.success('n1')
    for (let i = 0; i < 4; i++) b.failure('n1')
    expect(b.state('n1')).toBe('closed')
  })
})
