/**
 * A restarted directory with a data file keeps its signing key (tickets stay verifiable with the same
 * key), its nodes and their tokens; the file never holds a raw node_token; a directory without a file
 * starts empty with a fresh key.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import { call, registerBody } from './http-support.js'

describe('file persistence', () => {
  let dirPath = ''
  beforeEach(async () => {
    dirPath = await mkdtemp(join(tmpdir(), 'iicp-directory-'))
  })
  afterEach(async () => {
    await rm(dirPath, { recursive: true, force: true })
  })

  it('keeps the signing key, nodes and tokens across a restart', async () => {
    const dataFile = join(dirPath, 'state', 'directory.json')
    const first = await startDirectory({ port: 0, dataFile, skipLivenessCheck: true, pruneIntervalMs: 0 })
    const reg = await call(first.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'persistent' }) })
    const token = reg.json.node_token as string
    const key = first.publicKeyHex
    await first.close()

    const text = await readFile(dataFile, 'utf8')
    expect(text).toContain('persistent')
    expect(text).not.toContain(token)

    const second = await startDirectory({ port: 0, dataFile, skipLivenessCheck: true, pruneIntervalMs: 0 })
    try {
      expect(second.publicKeyHex).toBe(key)
      expect((await call(second.url, 'GET', '/api/v1/directory-key')).json.public_key).toBe(key)
      const hb = await call(second.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: 'persistent' } })
      expect(hb.status).toBe(200)
      const found = await call(second.url, 'GET', '/api/v1/discover?intent=urn:iicp:intent:llm:chat:v1')
      expect(found.json.count).toBe(1)
    } finally {
      await second.close()
    }
  })

  it('forgets a deregistered node after a restart', async () => {
    const dataFile = join(dirPath, 'directory.json')
    const first = await startDirectory({ port: 0, dataFile, skipLivenessCheck: true, pruneIntervalMs: 0 })
    const reg = await call(first.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'leaving' }) })
    await call(first.url, 'DELETE', '/api/v1/register', { token: reg.json.node_token as string, body: { node_id: 'leaving' } })
    await first.close()
    const second = await startDirectory({ port: 0, dataFile, skipLivenessCheck: true, pruneIntervalMs: 0 })
    try {
      expect(second.directory.nodeCount).toBe(0)
    } finally {
      await second.close()
    }
  })

  it('starts empty with a new key when no data file is given', async () => {
    const a = await startDirectory({ port: 0, pruneIntervalMs: 0 })
    const b = await startDirectory({ port: 0, pruneIntervalMs: 0 })
    try {
      expect(a.publicKeyHex).not.toBe(b.publicKeyHex)
      expect(a.directory.nodeCount).toBe(0)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('refuses a corrupt data file with invalid_config', async () => {
    const dataFile = join(dirPath, 'bad.json')
    await (await import('node:fs/promises')).writeFile(dataFile, '{not json')
    await expect(startDirectory({ port: 0, dataFile })).rejects.toMatchObject({ code: 'invalid_config' })
  })
})
