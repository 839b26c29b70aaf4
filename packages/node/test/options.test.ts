/**
 * What this proves: options are parsed once with their defaults and frozen; every bad value fails at
 * construction with IicpError `invalid_config` naming the option; IICP_* environment variables map to
 * the same options (the tunnel rung whenever they turn the reachability ladder on, the relay accept port with
 * 0/off for none) and refuse garbage the same way.
 */
import { describe, expect, it } from 'vitest'
import { IicpNode, echo, nodeOptionsFromEnv, resolveNodeOptions } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'

describe('resolveNodeOptions', () => {
  it('applies the documented defaults and freezes the result', () => {
    const o = resolveNodeOptions({ backend: echo(), home: '/tmp/x' })
    expect(o).toMatchObject({
      directoryUrl: 'https://iicp.network/api', host: '0.0.0.0', port: undefined, basePort: 9484, portSearchSize: 7,
      region: 'unknown', maxConcurrent: 4, tokensPerMin: 10000, maxBodyBytes: 1048576, defaultTimeoutMs: 30000,
      retryAfterMs: 1000, drainTimeoutMs: 10000, auth: 'open', cx: true, heartbeatIntervalMs: 30000,
      deregisterOnClose: true, generatedByAi: true, stateFile: '/tmp/x/nodes/default.json',
    })
    expect(o.capabilities).toEqual([
      { intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], maxTokens: 8192, inputModalities: ['text'] },
      { intent: 'urn:iicp:intent:llm:completion:v1', models: ['echo-1'], maxTokens: 8192, inputModalities: ['text'] },
    ])
    expect(Object.isFrozen(o)).toBe(true)
  })

  const bad: Array<[string, Partial<NodeOptions> & Record<string, unknown>, RegExp]> = [
    ['maxConcurrent above 256', { maxConcurrent: 257 }, /option maxConcurrent must be an integer 1–256 \(got 257\)/],
    ['a fractional port', { port: 80.5 }, /option port must be an integer 0–65535/],
    ['a non-http directory URL', { directoryUrl: 'ftp://dir' }, /option directoryUrl must be an http\(s\) URL/],
    ['an unknown auth mode', { auth: 'magic' as 'open' }, /option auth must be 'open' or 'token'/],
    ['a region with spaces', { region: 'eu central' }, /option region must be a region tag/],
    ['a too-long node id', { nodeId: 'x'.repeat(37) }, /option nodeId must be a node id/],
    ['a capability without models', { capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: [] }] }, /option capabilities\[0\]\.models/],
    ['a malformed CX key', { cxPrivateKey: 'short' }, /option cxPrivateKey must be a 32-byte X25519 private key/],
  ]
  for (const [what, opts, message] of bad) {
    it(`refuses ${what} with invalid_config`, () => {
      expect.assertions(2)
      try {
        resolveNodeOptions({ backend: echo(), ...opts } as NodeOptions)
      } catch (err) {
        expect(err).toMatchObject({ name: 'IicpError', code: 'invalid_config' })
        expect((err as Error).message).toMatch(message)
      }
    })
  }

  it('requires a handler or a backend, not both and not neither', () => {
    expect(() => resolveNodeOptions({})).toThrow(/option handler or backend is required/)
    expect(() => resolveNodeOptions({ backend: echo(), handler: () => null })).toThrow(/not both/)
  })

  it('refuses a capability intent that is not a valid URN when the node is built', () => {
    expect(() => new IicpNode({ directoryUrl: null, backend: echo(), capabilities: [{ intent: 'urn:iicp:intent:LLM', models: ['m'] }] }))
      .toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})

describe('nodeOptionsFromEnv', () => {
  it('maps IICP_* variables to options and leaves unset ones out', () => {
    expect(nodeOptionsFromEnv({
      IICP_PORT: '9600', IICP_PUBLIC_ENDPOINT: 'https://node.example.org', IICP_HOME: '/var/lib/iicp', IICP_REGION: 'eu-west',
      IICP_MAX_CONCURRENT: '8', IICP_DIRECTORY_URL: 'http://127.0.0.1:9480/api', IICP_AUTH: 'token', IICP_CX: '0', IICP_HOST: '::',
      IICP_NODE_NAME: 'gpu0', IICP_DRAIN_TIMEOUT_MS: '2000', UNRELATED: 'x',
    })).toEqual({
      port: 9600, publicEndpoint: 'https://node.example.org', home: '/var/lib/iicp', region: 'eu-west', maxConcurrent: 8,
      directoryUrl: 'http://127.0.0.1:9480/api', auth: 'token', cx: false, host: '::', name: 'gpu0', drainTimeoutMs: 2000,
    })
    expect(nodeOptionsFromEnv({})).toEqual({})
  })

  it('refuses a non-numeric IICP_PORT with invalid_config naming the variable', () => {
    expect(() => nodeOptionsFromEnv({ IICP_PORT: '94x4' })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_PORT') }))
    expect(() => nodeOptionsFromEnv({ IICP_CX: 'maybe' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('feeds the constructor, which range-checks the values', () => {
    expect(() => new IicpNode({ backend: echo(), ...nodeOptionsFromEnv({ IICP_MAX_CONCURRENT: '0' }) })).toThrow(/maxConcurrent/)
  })

  it("fills the tunnel rung whenever it turns reachability 'auto' on, from the tunnel variables", () => {
    const env = { IICP_AUTO_DETECT_NAT: '1', IICP_TUNNEL: '0', IICP_TUNNEL_CREATE_MIN_INTERVAL_S: '300', PATH: '/usr/bin', IICP_HOME: '/srv/iicp' }
    expect(nodeOptionsFromEnv(env)).toEqual({
      home: '/srv/iicp', reachability: 'auto', tunnel: { quickTunnel: false, createMinIntervalMs: 300_000, path: '/usr/bin' },
    })
    // A tunnel URL or IICP_TUNNEL=1 asks for the ladder by itself; the tunnel is then its step 3.
    expect(nodeOptionsFromEnv({ IICP_TUNNEL_URL: 'https://node.example.org' })).toEqual({ reachability: 'auto', tunnel: { tunnelUrl: 'https://node.example.org' } })
    expect(nodeOptionsFromEnv({ IICP_TUNNEL: '1' })).toEqual({ reachability: 'auto', tunnel: { quickTunnel: true } })
    // IICP_AUTO_DETECT_NAT=0 keeps the ladder off, and with it the tunnel; no tunnel variable, no ladder.
    expect(nodeOptionsFromEnv({ IICP_AUTO_DETECT_NAT: '0', IICP_TUNNEL_URL: 'https://node.example.org' })).toEqual({})
    expect(nodeOptionsFromEnv({ IICP_TUNNEL: '0', PATH: '/usr/bin' })).toEqual({})
    expect(() => nodeOptionsFromEnv({ IICP_TUNNEL_URL: 'not a url' })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_TUNNEL_URL') }))
  })

  it("gives a constructor that takes the filled tunnel rung, whose guard files follow the node's final home", () => {
    const n = new IicpNode({ backend: echo(), persistState: false, directoryUrl: null, ...nodeOptionsFromEnv({ IICP_AUTO_DETECT_NAT: 'true', IICP_TUNNEL: 'off', IICP_HOME: '/srv/iicp' }) })
    expect(n.options.reachability).toBe('auto')
    expect(n.options.tunnel).toEqual({ home: '/srv/iicp', quickTunnel: false })
    const moved = new IicpNode({ backend: echo(), persistState: false, directoryUrl: null, ...nodeOptionsFromEnv({ IICP_AUTO_DETECT_NAT: '1', IICP_HOME: '/srv/iicp' }), home: '/srv/other' })
    expect(moved.options.tunnel).toEqual({ home: '/srv/other' })
  })

  it('maps IICP_RELAY_CAPABLE and IICP_RELAY_ACCEPT_PORT, where 0 or off means no accept port', () => {
    expect(nodeOptionsFromEnv({ IICP_RELAY_CAPABLE: '1', IICP_RELAY_ACCEPT_PORT: '9600' })).toEqual({ relayCapable: true, relayAcceptPort: 9600 })
    for (const off of ['0', 'off', 'OFF', 'none', 'false']) expect(nodeOptionsFromEnv({ IICP_RELAY_ACCEPT_PORT: off })).toEqual({ relayAcceptPort: false })
    expect(() => nodeOptionsFromEnv({ IICP_RELAY_ACCEPT_PORT: '94x5' })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_RELAY_ACCEPT_PORT') }))
    expect(resolveNodeOptions({ backend: echo(), ...nodeOptionsFromEnv({ IICP_RELAY_CAPABLE: '1' }) }).relayAcceptPort).toBe(9485)
    expect(resolveNodeOptions({ backend: echo(), ...nodeOptionsFromEnv({ IICP_RELAY_CAPABLE: '1', IICP_RELAY_ACCEPT_PORT: '0' }) }).relayAcceptPort).toBeUndefined()
  })
})
