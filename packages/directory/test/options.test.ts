/**
 * Options are parsed once with defaults and bad values fail with invalid_config naming the option; the
 * environment maps onto options; start/close are idempotent and leave nothing listening.
 */
import { describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import { directoryOptionsFromEnv, parseDirectoryOptions, startDirectory } from '@iicp/directory'
import type { DirectoryOptions } from '@iicp/directory'
import { call } from './http-support.js'

describe('options', () => {
  it('fills the defaults of local mode', () => {
    const o = parseDirectoryOptions({})
    expect(o).toMatchObject({
      port: 9480, host: '127.0.0.1', mode: 'local', probation: false, probeHosts: 'loopback', skipLivenessCheck: false,
      maxBodyBytes: 65536, expiryMs: 90000, heartbeatIntervalMs: 30000, rateLimits: { register: { max: 60, windowMs: 60000 } },
    })
    expect(Object.isFrozen(o)).toBe(true)
  })

  it('turns probation on and probes public addresses in public mode', () => {
    expect(parseDirectoryOptions({ mode: 'public' })).toMatchObject({ probation: true, probeHosts: 'any' })
  })

  const bad: Array<[string, DirectoryOptions, string]> = [
    ['a negative port', { port: -1 }, 'port'],
    ['a fractional port', { port: 1.5 }, 'port'],
    ['an unknown mode', { mode: 'open' as 'local' }, 'mode'],
    ['a publicOrigin with a path', { publicOrigin: 'https://dir.example.org/api' }, 'publicOrigin'],
    ['a publicOrigin that is not a URL', { publicOrigin: 'nope' }, 'publicOrigin'],
    ['a tiny body cap', { maxBodyBytes: 10 }, 'maxBodyBytes'],
    ['a rate limit of zero', { rateLimits: { register: { max: 0, windowMs: 1000 } } }, 'rateLimits.register.max'],
    ['an unknown option', { prot: 1 } as DirectoryOptions, 'prot'],
    ['a malformed signing key', { signingKey: { publicKeyHex: 'xyz', privateKeyPkcs8: '' } }, 'signingKey'],
  ]
  for (const [name, opts, option] of bad) {
    it(`rejects ${name} with invalid_config naming ${option}`, () => {
      expect.assertions(3)
      try {
        parseDirectoryOptions(opts)
      } catch (err) {
        expect(isIicpError(err)).toBe(true)
        expect((err as { code: string }).code).toBe('invalid_config')
        expect((err as Error).message).toContain(option)
      }
    })
  }

  it('reads IICP_* variables and ignores unset ones', () => {
    expect(directoryOptionsFromEnv({
      IICP_SKIP_LIVENESS_CHECK: 'true', IICP_DIRECTORY_PORT: '9999', IICP_DIRECTORY_MODE: 'public',
      IICP_DIRECTORY_PUBLIC_ORIGIN: 'https://dir.example.org', IICP_DIRECTORY_DATA_FILE: '/tmp/d.json', IICP_DIRECTORY_PROBATION: '0',
    })).toEqual({ skipLivenessCheck: true, port: 9999, mode: 'public', publicOrigin: 'https://dir.example.org', dataFile: '/tmp/d.json', probation: false })
    expect(directoryOptionsFromEnv({})).toEqual({})
    expect(() => directoryOptionsFromEnv({ IICP_SKIP_LIVENESS_CHECK: 'sometimes' })).toThrow(/IICP_SKIP_LIVENESS_CHECK/)
  })

  it('uses the configured public origin as ticket issuer and ACK directory', async () => {
    const dir = await startDirectory({ port: 0, publicOrigin: 'https://dir.example.org', skipLivenessCheck: true, pruneIntervalMs: 0 })
    try {
      const r = await call(dir.url, 'POST', '/api/v1/register', {
        body: { endpoint: 'http://127.0.0.1:9', region: 'x', capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1' }], limits: { max_concurrent: 1 } },
      })
      expect(r.json.directory).toBe('https://dir.example.org')
    } finally {
      await dir.close()
    }
  })

  it('reads the client address from CF-Connecting-IP or X-Forwarded-For only with trustProxy', async () => {
    const body = { endpoint: 'http://127.0.0.1:9', region: 'x', capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1' }], limits: { max_concurrent: 1 } }
    const trusting = await startDirectory({ port: 0, trustProxy: true, skipLivenessCheck: true, pruneIntervalMs: 0 })
    const plain = await startDirectory({ port: 0, skipLivenessCheck: true, pruneIntervalMs: 0 })
    try {
      const fwd = { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' }
      expect((await call(trusting.url, 'POST', '/api/v1/register', { body, headers: fwd })).json.observed_source_ip).toBe('203.0.113.7')
      expect((await call(trusting.url, 'POST', '/api/v1/register', { body, headers: { ...fwd, 'cf-connecting-ip': '198.51.100.9' } })).json.observed_source_ip).toBe('198.51.100.9')
      expect((await call(plain.url, 'POST', '/api/v1/register', { body, headers: fwd })).json.observed_source_ip).toBe('127.0.0.1')
    } finally {
      await trusting.close()
      await plain.close()
    }
  })

  it('closes idempotently and stops listening', async () => {
    const dir = await startDirectory({ port: 0 })
    expect(dir.apiUrl).toBe(`${dir.url}/api`)
    await Promise.all([dir.close(), dir.close()])
    await dir.close()
    await expect(call(dir.url, 'GET', '/iicp/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('fails with invalid_config when the port is taken', async () => {
    const a = await startDirectory({ port: 0 })
    try {
      await expect(startDirectory({ port: a.port })).rejects.toMatchObject({ code: 'invalid_config' })
    } finally {
      await a.close()
    }
  })
})
