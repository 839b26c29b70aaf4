/**
 * The CLI's small pure parts: argument parsers, intent short forms, loopback detection, boolean env
 * variables, failure descriptions, and that its local copies of protocol constants (kept out of `--help`'s
 * import graph) still equal @iicp/protocol's.
 */
import { DEFAULT_DIRECTORY_URL, DEFAULT_NODE_PORT, IicpError, PROXY_PORT as PROTOCOL_PROXY_PORT } from '@iicp/protocol'
import { DEFAULT_DIRECTORY_PORT } from '@iicp/directory'
import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { expandIntent, explainDirectoryFailure, isLoopbackDirectory } from '../src/consumer.js'
import { envFlag } from '../src/env.js'
import { CliFailure, UsageError } from '../src/exit.js'
import { describeFailure } from '../src/failure.js'
import { DIRECTORY_PORT, NODE_BASE_PORT, PROXY_PORT, PUBLIC_DIRECTORY_URL, integerIn, parseDuration, parsePort } from '../src/flags.js'

describe('constants copied to keep --help light', () => {
  it('match the protocol and directory packages', () => {
    expect(PUBLIC_DIRECTORY_URL).toBe(DEFAULT_DIRECTORY_URL)
    expect(PROXY_PORT).toBe(PROTOCOL_PROXY_PORT)
    expect(NODE_BASE_PORT).toBe(DEFAULT_NODE_PORT)
    expect(DIRECTORY_PORT).toBe(DEFAULT_DIRECTORY_PORT)
  })
})

describe('argument parsers', () => {
  it('reads durations in ms, s and m and refuses anything past the client cap', () => {
    expect(parseDuration('1500')).toBe(1500)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('2.5s')).toBe(2500)
    expect(parseDuration('2m')).toBe(120_000)
    expect(() => parseDuration('3m')).toThrow(InvalidArgumentError)
    expect(() => parseDuration('0')).toThrow(InvalidArgumentError)
    expect(() => parseDuration('soon')).toThrow('expected a duration such as 5000, 5000ms, 5s or 1m')
  })

  it('reads ports and bounded integers', () => {
    expect(parsePort('0')).toBe(0)
    expect(parsePort('9483')).toBe(9483)
    expect(() => parsePort('65536')).toThrow(InvalidArgumentError)
    expect(() => parsePort('-1')).toThrow(InvalidArgumentError)
    expect(integerIn(1, 256)('256')).toBe(256)
    expect(() => integerIn(1, 256)('0')).toThrow('expected a whole number from 1 to 256')
  })
})

describe('consumer helpers', () => {
  it('expands the short intent form and leaves URNs alone', () => {
    expect(expandIntent('llm:chat:v1')).toBe('urn:iicp:intent:llm:chat:v1')
    expect(expandIntent('urn:iicp:intent:x.acme:summarize:v2')).toBe('urn:iicp:intent:x.acme:summarize:v2')
  })

  it('treats only this machine as a loopback directory', () => {
    expect(isLoopbackDirectory('http://127.0.0.1:9480/api')).toBe(true)
    expect(isLoopbackDirectory('http://127.8.0.1:9480/api')).toBe(true)
    expect(isLoopbackDirectory('http://localhost:9480')).toBe(true)
    expect(isLoopbackDirectory('http://[::1]:9480/api')).toBe(true)
    expect(isLoopbackDirectory('http://192.168.1.10:9480/api')).toBe(false)
    expect(isLoopbackDirectory('https://iicp.network/api')).toBe(false)
  })

  it('calls a connection failure before any node attempt "cannot reach the directory"', () => {
    const explained = explainDirectoryFailure(new IicpError('connection_failed', 'Connection failed (ECONNREFUSED)'), 'https://iicp.network/api')
    expect(explained).toBeInstanceOf(CliFailure)
    expect((explained as CliFailure).failure.message).toBe(
      'cannot reach the IICP directory at https://iicp.network/api (connection refused); point --directory at a running directory, or start a local mesh with `iicp mesh`',
    )
  })

  it('calls a 404 or garbled answer before any node attempt "not an IICP directory"', () => {
    const explained = explainDirectoryFailure(new IicpError('not_found', 'HTTP 404 with a non-JSON body'), 'http://127.0.0.1:8080')
    expect((explained as CliFailure).failure).toEqual({
      code: 'directory_invalid',
      message: 'http://127.0.0.1:8080 did not answer like an IICP directory (HTTP 404 with a non-JSON body); --directory takes the API base, e.g. http://127.0.0.1:9480/api',
      exitCode: 1,
    })
  })

  it('leaves node failures (errors that carry attempts) as they are', () => {
    const nodeFailure = new IicpError('connection_failed', 'Connection failed', { extra: { attempts: [{ nodeId: 'n1', code: 'connection_failed' }] } })
    expect(explainDirectoryFailure(nodeFailure, 'https://iicp.network/api')).toBe(nodeFailure)
  })
})

describe('boolean environment variables', () => {
  it('read on/off spellings and refuse anything else', () => {
    expect(envFlag({ X: '1' }, 'X')).toBe(true)
    expect(envFlag({ X: 'off' }, 'X')).toBe(false)
    expect(envFlag({ X: '' }, 'X')).toBeUndefined()
    expect(envFlag({}, 'X')).toBeUndefined()
    expect(() => envFlag({ X: 'maybe' }, 'X')).toThrow(UsageError)
  })
})

describe('failure descriptions', () => {
  it('keep the code, say what failed, and exit 1', () => {
    expect(describeFailure(new IicpError('no_available_node', 'Every candidate node failed (3 attempts)'), 'usage: iicp chat')).toEqual({
      code: 'no_available_node', message: 'Every candidate node failed (3 attempts) (no_available_node)', exitCode: 1,
    })
  })

  it('name the nodes that were tried and how each failed, on the same line', () => {
    const err = new IicpError('no_available_node', 'Every candidate node failed (2 attempts)', {
      extra: { attempts: [
        { nodeId: '1a2b3c4d-0000-4000-8000-000000000000', code: 'connection_failed' },
        { nodeId: '1a2b3c4d-0000-4000-8000-000000000000', code: 'connection_failed' },
        { nodeId: 'n2', code: 'backend_error' },
      ] },
    })
    expect(describeFailure(err, 'usage: iicp chat').message).toBe(
      'Every candidate node failed (2 attempts) (no_available_node); tried 1a2b3c4d (connection_failed ×2), n2 (backend_error)',
    )
  })

  it('treat configuration errors as usage (exit 2) with the usage line', () => {
    const f = describeFailure(new IicpError('invalid_config', 'timeoutMs must be an integer in 1..120000'), 'usage: iicp chat [options] <prompt>')
    expect(f).toMatchObject({ code: 'invalid_config', exitCode: 2, hint: 'usage: iicp chat [options] <prompt>' })
  })

  it('never show an unexpected error\'s message or stack, only its class', () => {
    const f = describeFailure(new TypeError('secret-ish internals at /home/x/file.ts:1'), 'usage: iicp')
    expect(f).toEqual({ code: 'internal_error', message: 'unexpected TypeError; please report it with the command you ran', exitCode: 1 })
  })
})
