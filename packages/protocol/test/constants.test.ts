// Proves the protocol constants match the numbers wire.md cites (heartbeat, expiry, timeouts, retry, breaker,
// discover limits, rate limit, ports and the frm §11.1 port band), that they are consistent with each other,
// that the policies cannot be mutated at run time, and that SDK_VERSION follows the package version.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as protocol from '@iicp/protocol'
import { HEARTBEAT_RETRY_POLICY, MAX_DIRECTORY_REDIRECTS, MAX_WIRE_TIMEOUT_MS } from '../src/constants.js'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

describe('protocol constants', () => {
  it.each([
    ['DEFAULT_DIRECTORY_URL', 'https://iicp.network/api'],
    ['DEFAULT_NODE_PORT', 9484],
    ['PROXY_PORT', 9483],
    ['RELAY_ACCEPT_PORT', 9485],
    ['HEARTBEAT_INTERVAL_MS', 30_000],
    ['NODE_EXPIRY_MS', 90_000],
    ['FIRST_HEARTBEAT_DEADLINE_MS', 35_000],
    ['DEFAULT_TIMEOUT_MS', 30_000],
    ['MAX_TIMEOUT_MS', 120_000],
    ['MIN_TASK_TIMEOUT_MS', 100],
    ['DISCOVER_DEFAULT_LIMIT', 10],
    ['DISCOVER_MAX_LIMIT', 50],
    ['IICP_VERSION_HEADER_VALUE', '1.5'],
    ['SDK_LANGUAGE', 'typescript'],
    ['DEFAULT_MAX_BODY_BYTES', 1_048_576],
  ] as const)('sets %s to the value wire.md cites', (name, value) => {
    expect(protocol[name]).toBe(value)
  })

  it('uses sem §6.1 retries (3 attempts, 200 ms, ×2, ±20%) and the sem §7.2 breaker (5 failures, 30 s)', () => {
    expect(protocol.RETRY_POLICY).toEqual({ maxAttempts: 3, baseDelayMs: 200, factor: 2, jitter: 0.2 })
    expect(protocol.BREAKER_POLICY).toEqual({ failureThreshold: 5, openMs: 30_000 })
    expect(HEARTBEAT_RETRY_POLICY).toEqual({ maxAttempts: 2, baseDelayMs: 100 })
  })

  it('limits REGISTER to 60 per rolling 60 s (dir §3.1)', () => {
    expect(protocol.REGISTER_RATE_LIMIT).toEqual({ max: 60, windowMs: 60_000 })
  })

  it('follows at most 3 federation redirects and caps wire timeouts at 300000 ms', () => {
    expect(MAX_DIRECTORY_REDIRECTS).toBe(3)
    expect(MAX_WIRE_TIMEOUT_MS).toBe(300_000)
  })

  it('lets extra node instances auto-increment through 9485–9490 only (frm §11.1)', () => {
    const band = Array.from({ length: protocol.NODE_PORT_BAND_SIZE }, (_, i) => protocol.DEFAULT_NODE_PORT + 1 + i)
    expect(band).toEqual([9485, 9486, 9487, 9488, 9489, 9490])
  })

  it('keeps the proxy inside the 9480–9483 local client band', () => {
    expect(protocol.PROXY_PORT).toBeGreaterThanOrEqual(9480)
    expect(protocol.PROXY_PORT).toBeLessThan(protocol.DEFAULT_NODE_PORT)
  })

  it('keeps the timeouts ordered: wire minimum ≤ default ≤ client cap ≤ wire maximum', () => {
    expect(protocol.MIN_TASK_TIMEOUT_MS).toBeLessThanOrEqual(protocol.DEFAULT_TIMEOUT_MS)
    expect(protocol.DEFAULT_TIMEOUT_MS).toBeLessThanOrEqual(protocol.MAX_TIMEOUT_MS)
    expect(protocol.MAX_TIMEOUT_MS).toBeLessThanOrEqual(MAX_WIRE_TIMEOUT_MS)
  })

  it('keeps the expiry window at three heartbeat intervals and the first beat after one interval', () => {
    expect(protocol.NODE_EXPIRY_MS).toBe(3 * protocol.HEARTBEAT_INTERVAL_MS)
    expect(protocol.FIRST_HEARTBEAT_DEADLINE_MS).toBeGreaterThan(protocol.HEARTBEAT_INTERVAL_MS)
  })

  it('keeps the default directory URL already normalised', () => {
    expect(protocol.normalizeDirectoryUrl(protocol.DEFAULT_DIRECTORY_URL)).toBe(protocol.DEFAULT_DIRECTORY_URL)
  })

  it('freezes the policy objects so no caller can change them for everyone', () => {
    for (const policy of [protocol.RETRY_POLICY, protocol.BREAKER_POLICY, protocol.REGISTER_RATE_LIMIT, HEARTBEAT_RETRY_POLICY]) {
      expect(Object.isFrozen(policy)).toBe(true)
    }
  })

  it('reports the package version as SDK_VERSION', () => {
    expect(protocol.SDK_VERSION).toBe(pkg.version)
  })
})
