/**
 * Client configuration: defaults, the frozen parse, `invalid_config` naming the option and its range
 * (README SDK-04 and spec SDK-04 for timeoutMs, spec SDK-05 for TLS verification), plaintext directories only on
 * an explicit private opt-in, and `clientOptionsFromEnv` for IICP_* variables.
 */
import { describe, expect, it } from 'vitest'
import { IicpError, isIicpError } from '@iicp/protocol'
import { IicpClient, clientOptionsFromEnv, parseClientOptions } from '../src/index.js'
import type { ClientConfig } from '../src/index.js'

function configError(config: unknown): IicpError {
  try {
    new IicpClient(config as ClientConfig)
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected invalid_config')
}

describe('client options', () => {
  it('fills the documented defaults and freezes the result', () => {
    const o = parseClientOptions()
    expect(o.directoryUrl).toBe('https://iicp.network/api')
    expect(o.timeoutMs).toBe(30_000)
    expect(o.allowPrivateEndpoints).toBe(false)
    expect(o.allowPlaintext).toBe(false)
    expect(o.routeDiscovery).toBe('auto')
    expect(o.selection).toBe('epsilon')
    expect(o.selectionEpsilon).toBe(0.05)
    expect(o.selectionSoftmaxTau).toBe(0.04)
    expect(o.selectionTopK).toBe(3)
    expect(o.routingPolicy.profile).toBe('standard')
    expect(o.consumerAuthMode).toBe('optional')
    expect(o.maxAttempts).toBe(3)
    expect(o.retryBaseDelayMs).toBe(200)
    expect(o.routeCacheMs).toBe(5_000)
    expect(o.breakerFailureThreshold).toBe(5)
    expect(o.breakerOpenMs).toBe(30_000)
    expect(Object.isFrozen(o)).toBe(true)
  })

  it('README SDK-04 and spec SDK-04: rejects timeoutMs > 120000 at construction with invalid_config (no clamping)', () => {
    const err = configError({ timeoutMs: 120_001 })
    expect(err.code).toBe('invalid_config')
    expect(err.message).toContain('timeoutMs')
    expect(err.message).toContain('1..120000')
    expect(new IicpClient({ timeoutMs: 120_000 }).config.timeoutMs).toBe(120_000)
  })

  it('rejects timeoutMs ≤ 0 and non-integers with invalid_config', () => {
    for (const t of [0, -1, 1.5, Number.NaN, '30000']) expect(configError({ timeoutMs: t }).code).toBe('invalid_config')
  })

  it('spec SDK-05: tlsVerify false is unavailable and raises IicpError invalid_config', () => {
    const err = configError({ tlsVerify: false })
    expect(err.code).toBe('invalid_config')
    expect(err.message).toContain('tlsVerify')
    expect(() => new IicpClient({ tlsVerify: true })).not.toThrow()
  })

  it('names the option and range for every bad value', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ maxAttempts: 0 }, 'maxAttempts'], [{ maxAttempts: 11 }, 'maxAttempts'], [{ routeCacheMs: 10_001 }, 'routeCacheMs'],
      [{ routeDiscovery: 'sometimes' }, 'routeDiscovery'], [{ selection: 'random' }, 'selection'], [{ region: '' }, 'region'],
      [{ nodeToken: '' }, 'nodeToken'], [{ allowPrivateEndpoints: 'yes' }, 'allowPrivateEndpoints'],
      [{ directoryUrl: 'ftp://x.example.com' }, 'directoryUrl'], [{ directoryUrl: 'not a url' }, 'directoryUrl'],
      [{ logger: {} }, 'logger'], [{ bogus: 1 }, 'bogus'],
    ]
    for (const [config, option] of cases) {
      const err = configError(config)
      expect(err.code).toBe('invalid_config')
      expect(Object.keys(err.fields ?? {})).toEqual([option])
    }
  })

  it('refuses a plaintext http directory unless it is private and allowPrivateEndpoints is set', () => {
    expect(configError({ directoryUrl: 'http://directory.example.com/api' }).code).toBe('invalid_config')
    expect(configError({ directoryUrl: 'http://127.0.0.1:9480/api' }).code).toBe('invalid_config')
    expect(new IicpClient({ directoryUrl: 'http://127.0.0.1:9480', allowPrivateEndpoints: true }).config.directoryUrl).toBe('http://127.0.0.1:9480/api')
  })

  it('normalises the directory URL to end in /api exactly once', () => {
    expect(parseClientOptions({ directoryUrl: 'https://dir.example.com' }).directoryUrl).toBe('https://dir.example.com/api')
    expect(parseClientOptions({ directoryUrl: 'https://dir.example.com/api/' }).directoryUrl).toBe('https://dir.example.com/api')
  })
})

describe('clientOptionsFromEnv', () => {
  it('reads IICP_* variables into a ClientConfig', () => {
    const c = clientOptionsFromEnv({
      IICP_DIRECTORY_URL: 'https://d.example.com/api', IICP_TIMEOUT_MS: '15000', IICP_REGION: 'eu-central',
      IICP_NODE_TOKEN: 'abc', IICP_ALLOW_PRIVATE_ENDPOINTS: '1', IICP_CX_ALLOW_PLAINTEXT: 'true',
      IICP_ROUTE_DISCOVERY_MODE: 'legacy', IICP_ROUTING_STRATEGY: 'weighted_v1', IICP_ROUTING_TOP_K: '2', IICP_MAX_ATTEMPTS: '4',
    })
    expect(c).toEqual({
      directoryUrl: 'https://d.example.com/api', timeoutMs: 15_000, region: 'eu-central', nodeToken: 'abc',
      allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', selection: 'weighted_v1', selectionTopK: 2, maxAttempts: 4,
    })
    expect(() => parseClientOptions(c)).not.toThrow()
  })

  it('ignores unset and empty variables', () => {
    expect(clientOptionsFromEnv({ IICP_REGION: '', PATH: '/bin' })).toEqual({})
  })

  it('rejects malformed numbers and booleans with invalid_config naming the variable', () => {
    expect(() => clientOptionsFromEnv({ IICP_TIMEOUT_MS: 'soon' })).toThrowError(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_TIMEOUT_MS') }))
    expect(() => clientOptionsFromEnv({ IICP_CX_ALLOW_PLAINTEXT: 'maybe' })).toThrowError(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('lets the constructor enforce ranges on environment values (README SDK-04)', () => {
    expect(configError(clientOptionsFromEnv({ IICP_TIMEOUT_MS: '500000' })).code).toBe('invalid_config')
  })
})
