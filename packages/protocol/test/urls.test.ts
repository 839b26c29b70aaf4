// Proves directory URL handling (wire.md §0.1): every spelling of a directory base normalises to one `/api`
// suffix, `/api` is never doubled when paths are joined, the ticket issuer is the base without `/api`, and
// non-http(s) or credential-bearing URLs fail with invalid_config. Proves classifyHost on a table of address
// classes and on every address-class vector of the endpoint-security fixture the client also consumes.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { classifyHost, directoryApiUrl, directoryOrigin, isPrivateOrLocalHost, normalizeDirectoryUrl } from '@iicp/protocol'
import type { HostClass } from '@iicp/protocol'

interface EndpointSecurity {
  address_vectors: Array<{ id: string; addresses: string[]; allow_private: boolean; allowed: boolean }>
  hostname_vectors: Array<{ id: string; host: string; allowed: boolean }>
  resolution_attempt_vectors: Array<{ id: string; attempts: string[][]; allow_private: boolean; expected: string[] }>
}
const fixture = JSON.parse(readFileSync(
  new URL('../../../fixtures/spec/research/pre-normative-profiles/fixtures/endpoint-security-v1.json', import.meta.url), 'utf8',
)) as EndpointSecurity

/** The fixture's policy: every resolved address must be public unless private addresses were opted into. */
const addressesAllowed = (addresses: string[], allowPrivate: boolean): boolean =>
  allowPrivate || addresses.every((a) => classifyHost(a) === 'public')

describe('normalizeDirectoryUrl', () => {
  it.each([
    ['https://iicp.network', 'https://iicp.network/api'],
    ['https://iicp.network/', 'https://iicp.network/api'],
    ['https://iicp.network/api', 'https://iicp.network/api'],
    ['https://iicp.network/api/', 'https://iicp.network/api'],
    ['https://iicp.network/api//', 'https://iicp.network/api'],
    ['https://iicp.network/api/v1', 'https://iicp.network/api'],
    ['https://iicp.network/api/v1/', 'https://iicp.network/api'],
    ['https://iicp.network/api/api', 'https://iicp.network/api'],
    ['https://IICP.Network:443/api', 'https://iicp.network/api'],
    ['  https://iicp.network/api  ', 'https://iicp.network/api'],
    ['http://127.0.0.1:8080/api', 'http://127.0.0.1:8080/api'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/api'],
    ['https://example.org/iicp', 'https://example.org/iicp/api'],
    ['https://example.org/iicp/api/', 'https://example.org/iicp/api'],
    ['http://[::1]:8080/', 'http://[::1]:8080/api'],
  ])('turns %s into %s', (input, expected) => {
    expect(normalizeDirectoryUrl(input)).toBe(expected)
    expect(normalizeDirectoryUrl(expected)).toBe(expected)
  })

  it.each([
    ['a non-http scheme', 'ftp://iicp.network/api'],
    ['a ws scheme', 'ws://iicp.network/api'],
    ['a relative path', '/api'],
    ['garbage', 'not a url'],
    ['credentials', 'https://user:secret@iicp.network/api'],
    ['a query', 'https://iicp.network/api?x=1'],
    ['a fragment', 'https://iicp.network/api#top'],
  ])('refuses %s with invalid_config', (_name, url) => {
    expect(() => normalizeDirectoryUrl(url)).toThrow(expect.objectContaining({ code: 'invalid_config' }) as Error)
  })

  it('never echoes URL credentials in its error', () => {
    try {
      normalizeDirectoryUrl('https://user:hunter2secret@iicp.network/api')
      expect.unreachable()
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('hunter2secret')
    }
  })
})

describe('directoryApiUrl and directoryOrigin', () => {
  it.each([
    ['https://iicp.network/api', '/v1/discover?intent=x', 'https://iicp.network/api/v1/discover?intent=x'],
    ['https://iicp.network', '/v1/register', 'https://iicp.network/api/v1/register'],
    ['https://iicp.network/api/', '/api/v1/directory-key', 'https://iicp.network/api/v1/directory-key'],
    ['https://iicp.network/api/v1', '/v1/heartbeat', 'https://iicp.network/api/v1/heartbeat'],
  ])('joins %s and %s without doubling /api', (base, path, expected) => {
    expect(directoryApiUrl(base, path)).toBe(expected)
    expect(directoryApiUrl(base, path)).not.toMatch(/\/api\/api\b/)
  })

  it('refuses paths outside /v1/', () => {
    expect(() => directoryApiUrl('https://iicp.network', '/.well-known/did.json')).toThrow(
      expect.objectContaining({ code: 'invalid_config' }) as Error,
    )
    expect(() => directoryApiUrl('https://iicp.network', 'v1/register')).toThrow()
  })

  it.each([
    ['https://iicp.network/api', 'https://iicp.network'],
    ['https://iicp.network', 'https://iicp.network'],
    ['http://127.0.0.1:8080/api/', 'http://127.0.0.1:8080'],
    ['https://example.org/iicp/api', 'https://example.org/iicp'],
  ])('gives %s the origin %s', (base, origin) => {
    expect(directoryOrigin(base)).toBe(origin)
  })
})

describe('classifyHost', () => {
  const table: ReadonlyArray<readonly [string, HostClass]> = [
    ['93.184.216.34', 'public'],
    ['8.8.8.8', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['169.254.169.254', 'link_local'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['127.1', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['2130706433', 'loopback'],
    ['017700000001', 'loopback'],
    ['256.1.1.1', 'reserved'],
    ['2606:2800:220:1:248:1893:25c8:1946', 'public'],
    ['[2606:2800:220:1:248:1893:25c8:1946]', 'public'],
    ['::', 'unspecified'],
    ['[::]', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:93.184.216.34', 'public'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['fd00::1', 'private'],
    ['fc00::1', 'private'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['ff02::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::1.2.3.4', 'reserved'],
    ['1:2:3:4:5:6:7', 'reserved'],
    ['1::2::3', 'reserved'],
    ['::ffff:300.1.1.1', 'reserved'],
    ['localhost', 'loopback'],
    ['LOCALHOST', 'loopback'],
    ['api.localhost', 'loopback'],
    ['provider.local', 'local_name'],
    ['provider.test', 'local_name'],
    ['provider.example', 'local_name'],
    ['provider.invalid', 'local_name'],
    ['router.lan', 'local_name'],
    ['provider.internal', 'local_name'],
    ['nas.home.arpa', 'local_name'],
    ['box.localdomain', 'local_name'],
    ['ollama', 'local_name'],
    ['provider.example.com', 'public'],
    ['iicp.network', 'public'],
    ['iicp.network.', 'public'],
    ['Node-1.Example.COM', 'public'],
    ['bücher.example', 'local_name'],
    ['bücher.de', 'public'],
    ['', 'reserved'],
    ['bad host', 'reserved'],
    ['a..b', 'reserved'],
  ]

  it.each(table)('classifies %s as %s', (host, cls) => {
    expect(classifyHost(host)).toBe(cls)
    expect(isPrivateOrLocalHost(host)).toBe(cls !== 'public')
  })
})

describe('the endpoint-security fixture (address classes)', () => {
  it.each(fixture.address_vectors.map((v) => [v.id, v] as const))('decides address vector %s as the fixture does', (_id, v) => {
    expect(addressesAllowed(v.addresses, v.allow_private)).toBe(v.allowed)
  })

  it.each(fixture.hostname_vectors.map((v) => [v.id, v] as const))('decides hostname vector %s as the fixture does', (_id, v) => {
    expect(classifyHost(v.host) === 'public').toBe(v.allowed)
  })

  it.each(fixture.resolution_attempt_vectors.map((v) => [v.id, v] as const))('decides every attempt of rebinding vector %s', (_id, v) => {
    expect(v.attempts.map((a) => (addressesAllowed(a, v.allow_private) ? 'allow' : 'refuse'))).toEqual(v.expected)
  })
})
