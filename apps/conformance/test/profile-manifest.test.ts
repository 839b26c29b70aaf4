/**
 * The manifest parser refuses manifests the spec runner would refuse (unknown schema, duplicate ids, headers
 * other than Authorization, state used before it is captured), and the named assertions judge bodies the way
 * the spec defines them (score floor 0.1, `data.nodes` nesting, fixture text never echoed, exact error codes).
 */
import { describe, expect, it } from 'vitest'
import { assertionPasses, parseManifest, profileManifest } from '../src/index.js'

const base = { schema: 'iicp.conformance_test_manifest.v1', suite_version: '4.45.0', profile: 'directory-public-v1' }
const ok = { id: 'X-1', method: 'GET', path: '/api/v1/discover', status: 200, assertion: 'none' }

describe('parseManifest', () => {
  it('parses each embedded profile with its suite version, loopback flag and digest', () => {
    expect(profileManifest('directory-public-v1')).toMatchObject({ suiteVersion: '4.45.0', loopbackOnly: false })
    expect(profileManifest('directory-dispatch-v1')).toMatchObject({ suiteVersion: '4.49.0', loopbackOnly: true })
    expect(profileManifest('directory-lifecycle-v1').tests).toHaveLength(6)
    expect(profileManifest('directory-public-v1').digest).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it('refuses an unknown schema, duplicate ids, extra headers and state used before capture', () => {
    expect(() => parseManifest(JSON.stringify({ ...base, schema: 'other', tests: [ok] }))).toThrow(/schema/)
    expect(() => parseManifest(JSON.stringify({ ...base, tests: [ok, ok] }))).toThrow(/unique/)
    expect(() => parseManifest(JSON.stringify({ ...base, tests: [{ ...ok, headers: { Cookie: 'x' } }] }))).toThrow(/Authorization/)
    expect(() => parseManifest(JSON.stringify({ ...base, tests: [{ ...ok, path: '/api/v1/node/${node_id}' }] }))).toThrow(/unresolved/)
    expect(() => parseManifest(JSON.stringify({ ...base, tests: [{ ...ok, assertion: 'made_up' }] }))).toThrow(/assertion/)
    expect(() => parseManifest(JSON.stringify({ ...base, tests: [{ ...ok, path: '//evil.example/x' }] }))).toThrow(/path/)
    expect(() => parseManifest('{"schema":')).toThrow(expect.objectContaining({ code: 'validation_error', message: 'invalid conformance manifest: not JSON' }))
  })
})

describe('assertionPasses', () => {
  it('accepts discovery shapes at the top level or under data, and requires an integer count', () => {
    expect(assertionPasses('discovery_shape', '{"nodes":[],"count":0}')).toBe(true)
    expect(assertionPasses('discovery_shape', '{"data":{"nodes":[]},"count":0}')).toBe(true)
    expect(assertionPasses('discovery_shape', '{"nodes":[]}')).toBe(false)
  })

  it('holds scores to the spec runner range 0.1..1.0', () => {
    expect(assertionPasses('score_range', '{"nodes":[{"score":0.1},{"score":1}]}')).toBe(true)
    expect(assertionPasses('score_range', '{"nodes":[{"score":0.05}]}')).toBe(false)
    expect(assertionPasses('score_range', '{"nodes":[{"score":"0.5"}]}')).toBe(false)
  })

  it('fails an error body that echoes the fixture prompt, and matches error codes exactly', () => {
    expect(assertionPasses('json_error_without_fixture_content', '{"error":{"code":"validation_error"}}')).toBe(true)
    expect(assertionPasses('json_error_without_fixture_content', '{"error":{"code":"validation_error","message":"prompt fixture-only refused"}}')).toBe(false)
    expect(assertionPasses('error_code:validation_error', '{"error":{"code":"validation_error"}}')).toBe(true)
    expect(assertionPasses('error_code:validation_error', '{"error":{"code":"bad_request"}}')).toBe(false)
    expect(assertionPasses('json_error', '<html>oops</html>')).toBe(false)
  })

  it('checks the ticket, registration, heartbeat and deregister shapes', () => {
    const ticket = { ticket: 't', route: {}, data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false }
    expect(assertionPasses('dispatch_ticket_shape', JSON.stringify(ticket))).toBe(true)
    expect(assertionPasses('dispatch_ticket_shape', JSON.stringify({ ...ticket, prompt_payload_accepted: true }))).toBe(false)
    expect(assertionPasses('registration_shape', '{"node_id":"n","node_token":"t"}')).toBe(true)
    expect(assertionPasses('registration_shape', '{"node_id":"n","node_token":""}')).toBe(false)
    expect(assertionPasses('heartbeat_shape', '{"ok":true,"next_heartbeat_ms":30000}')).toBe(true)
    expect(assertionPasses('heartbeat_shape', '{"ok":true,"next_heartbeat_ms":0}')).toBe(false)
    expect(assertionPasses('deregister_shape', '{"deregistered":true}')).toBe(true)
    expect(assertionPasses('deregister_shape', '{"deregistered":"yes"}')).toBe(false)
  })
})
