// Proves IICP-CX interoperates with the reference Python SDK (reference-implementations §5.4): our node decrypts
// the Python client's captured requests and our client decrypts the Python node's responses. Our own encryption
// round-trips and is decrypted by an independent node:crypto rendering of the construction, and every kind of
// damage (wrong key, tampered body, wrong AAD or task) fails with IicpError instead of wrong plaintext.
import { createDecipheriv, createPrivateKey, createPublicKey, createCipheriv, diffieHellman, hkdfSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError, isIicpError } from '../src/errors.js'
import { cryptoBackend, setCryptoBackend } from '../src/crypto/backend.js'
import type { CryptoBackend } from '../src/crypto/backend.js'
import {
  cxKeyId, cxPublicKeyDescriptor, decryptRequest, decryptResponse, encryptRequest, encryptResponse, exportCxPrivateKey,
  generateCxKeyPair, importCxPrivateKey,
} from '../src/cx.js'
import type { CxKeyPair } from '../src/cx.js'
import type { IicpConf, IicpConfResp } from '../src/schemas/index.js'

interface CxCase {
  request_body: { task_id: string; intent: string; iicp_conf: IicpConf }
  expected_payload: unknown
  response_body: { iicp_conf_resp: IicpConfResp }
  expected_response: unknown
}
interface CxFixture {
  node_key: { private_key: string; public_key: { algorithm: 'X25519'; encoding: 'base64url'; key: string; key_id: string } }
  cases: CxCase[]
}
const fixture = JSON.parse(readFileSync(new URL('../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as CxFixture

const TASK = '11111111-2222-4333-8444-555555555555'
const INTENT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'héllo mesh ✓' }], model: 'echo-1' }

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
  } catch (err) {
    return isIicpError(err) ? err.code : `not an IicpError: ${String(err)}`
  }
  return undefined
}
const flip = (b64: string, at = 0): string => {
  const bytes = Buffer.from(b64, 'base64url')
  bytes[at] = bytes[at]! ^ 1
  return bytes.toString('base64url')
}

describe('interop with iicp-client-python 0.7.107 (fixtures/interop)', () => {
  it('imports the fixture node key to the advertised public key and key id', async () => {
    const pair = await importCxPrivateKey(fixture.node_key.private_key)
    expect(pair.publicKey).toBe(fixture.node_key.public_key.key)
    expect(pair.keyId).toBe(fixture.node_key.public_key.key_id)
    const { features, ...descriptor } = cxPublicKeyDescriptor(pair)
    expect(descriptor).toEqual(fixture.node_key.public_key)
    expect(features).toEqual(['response_encryption_v1'])
  })

  fixture.cases.forEach((c, i) => {
    it(`decrypts the Python client's request of case ${i + 1} to the expected payload`, async () => {
      const keyPair = await importCxPrivateKey(fixture.node_key.private_key)
      const { payload } = await decryptRequest({ iicpConf: c.request_body.iicp_conf, taskId: c.request_body.task_id, intent: c.request_body.intent, keyPair })
      expect(payload).toEqual(c.expected_payload)
    })

    it(`decrypts the Python node's response of case ${i + 1} (json.dumps spacing) to the expected envelope`, async () => {
      const keyPair = await importCxPrivateKey(fixture.node_key.private_key)
      const { responseContext } = await decryptRequest({ iicpConf: c.request_body.iicp_conf, taskId: c.request_body.task_id, intent: c.request_body.intent, keyPair })
      expect(await decryptResponse(c.response_body.iicp_conf_resp, responseContext)).toEqual(c.expected_response)
    })
  })

  it('rejects the Python request under the other case\'s task id as IICP-CX-02', async () => {
    const keyPair = await importCxPrivateKey(fixture.node_key.private_key)
    const [a, b] = fixture.cases
    const { aad: _aad, ...withoutAad } = a!.request_body.iicp_conf
    expect(await codeOf(decryptRequest({ iicpConf: withoutAad as IicpConf, taskId: b!.request_body.task_id, intent: INTENT, keyPair }))).toBe('IICP-CX-02')
  })
})

describe('our own encryption', () => {
  it('round-trips a request and its response', async () => {
    const node = await generateCxKeyPair()
    const { iicpConf, responseContext } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    expect(iicpConf).toMatchObject({ version: 1, recipient_key_id: node.keyId, plaintext_size: Buffer.byteLength(JSON.stringify(PAYLOAD)) })
    expect(Buffer.from(iicpConf.aad ?? '', 'base64url').toString('utf8')).toBe(`${TASK}|${INTENT}`)
    const decrypted = await decryptRequest({ iicpConf, taskId: TASK, intent: INTENT, keyPair: node })
    expect(decrypted.payload).toEqual(PAYLOAD)
    expect(Buffer.from(decrypted.responseContext.sharedSecret)).toEqual(Buffer.from(responseContext.sharedSecret))
    const envelope = { task_id: TASK, status: 'completed', generated_by_ai: true, result: { ok: 'ünïcode' } }
    const resp = await encryptResponse(envelope, decrypted.responseContext)
    expect(await decryptResponse(resp, responseContext)).toEqual(envelope)
  })

  it('encrypts a caller-serialised payloadJson as given, byte for byte', async () => {
    const node = await generateCxKeyPair()
    // Python-style separators, so the text cannot be a re-serialisation of a parsed value.
    const payloadJson = '{"messages": [{"role": "user", "content": "h\\u00e9llo"}]}'
    const { iicpConf } = await encryptRequest({ payloadJson, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    expect(iicpConf.plaintext_size).toBe(Buffer.byteLength(payloadJson))
    const decrypted = await decryptRequest({ iicpConf, taskId: TASK, intent: INTENT, keyPair: node })
    expect(decrypted.payload).toEqual({ messages: [{ role: 'user', content: 'héllo' }] })
  })

  it('encodes every binary field as unpadded base64url with a 12-byte nonce', async () => {
    const node = await generateCxKeyPair()
    const { iicpConf, responseContext } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    for (const field of [iicpConf.kem_ciphertext, iicpConf.encrypted_body, iicpConf.nonce, iicpConf.aad ?? '']) expect(field).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(Buffer.from(iicpConf.nonce, 'base64url')).toHaveLength(12)
    const resp = await encryptResponse({ ok: true }, responseContext)
    expect(Buffer.from(resp.nonce, 'base64url')).toHaveLength(12)
  })

  it('is decrypted by an independent node:crypto rendering of the construction', async () => {
    const node = await generateCxKeyPair()
    const { iicpConf } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(node.privateKey, 'base64url')])
    const spki = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(iicpConf.kem_ciphertext, 'base64url')])
    const shared = diffieHellman({
      privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
      publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }),
    })
    const nonce = Buffer.from(iicpConf.nonce, 'base64url')
    const key = Buffer.from(hkdfSync('sha256', shared, nonce, Buffer.from(`IICP-CX-v1${TASK}${INTENT}`), 32))
    const body = Buffer.from(iicpConf.encrypted_body, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', key, nonce)
    decipher.setAAD(Buffer.from(`${TASK}|${INTENT}`))
    decipher.setAuthTag(body.subarray(body.length - 16))
    const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()])
    expect(JSON.parse(plain.toString('utf8'))).toEqual(PAYLOAD)
  })

  it('reads a response a Python-style node wrote with ", " and ": " separators', async () => {
    const sharedSecret = new Uint8Array(randomBytes(32))
    const nonce = randomBytes(12)
    const key = Buffer.from(hkdfSync('sha256', sharedSecret, nonce, Buffer.from(`IICP-CX-RESP-v1${TASK}`), 32))
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    cipher.setAAD(Buffer.from(`${TASK}|resp`))
    const plain = '{"task_id": "' + TASK + '", "status": "completed", "result": {"n": [1, 2]}}'
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
    const resp: IicpConfResp = { version: 1, nonce: nonce.toString('base64url'), encrypted_body: body.toString('base64url') }
    expect(await decryptResponse(resp, { taskId: TASK, sharedSecret })).toEqual({ task_id: TASK, status: 'completed', result: { n: [1, 2] } })
  })

  it('keeps the private key exportable and re-importable', async () => {
    const node = await generateCxKeyPair()
    expect(node.keyId).toBe(await cxKeyId(new Uint8Array(Buffer.from(node.publicKey, 'base64url'))))
    expect(node.keyId).toMatch(/^cx-[0-9a-f]{16}$/)
    expect(await importCxPrivateKey(exportCxPrivateKey(node))).toEqual(node)
  })
})

describe('request decryption failures are IICP-CX-02', () => {
  async function sealed(): Promise<{ node: CxKeyPair; iicpConf: IicpConf }> {
    const node = await generateCxKeyPair()
    const { iicpConf } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    return { node, iicpConf }
  }

  it('for another node key, even when the key id is forged to match', async () => {
    const { node, iicpConf } = await sealed()
    const other = await generateCxKeyPair()
    expect(await codeOf(decryptRequest({ iicpConf, taskId: TASK, intent: INTENT, keyPair: other }))).toBe('IICP-CX-02')
    expect(await codeOf(decryptRequest({ iicpConf, taskId: TASK, intent: INTENT, keyPair: { ...other, keyId: node.keyId } }))).toBe('IICP-CX-02')
  })

  it('for a tampered ciphertext, tag, nonce or ephemeral key', async () => {
    const { node, iicpConf } = await sealed()
    const body = Buffer.from(iicpConf.encrypted_body, 'base64url')
    const variants: IicpConf[] = [
      { ...iicpConf, encrypted_body: flip(iicpConf.encrypted_body) },
      { ...iicpConf, encrypted_body: flip(iicpConf.encrypted_body, body.length - 1) },
      { ...iicpConf, nonce: flip(iicpConf.nonce) },
      { ...iicpConf, kem_ciphertext: flip(iicpConf.kem_ciphertext) },
    ]
    for (const v of variants) expect(await codeOf(decryptRequest({ iicpConf: v, taskId: TASK, intent: INTENT, keyPair: node }))).toBe('IICP-CX-02')
  })

  it('for a wrong aad field or a body replayed under another task id or intent', async () => {
    const { node, iicpConf } = await sealed()
    const wrongAad = { ...iicpConf, aad: Buffer.from(`${TASK}${INTENT}`).toString('base64url') }
    expect(await codeOf(decryptRequest({ iicpConf: wrongAad, taskId: TASK, intent: INTENT, keyPair: node }))).toBe('IICP-CX-02')
    const { aad: _aad, ...noAad } = iicpConf
    expect(await codeOf(decryptRequest({ iicpConf: noAad as IicpConf, taskId: 'other-task', intent: INTENT, keyPair: node }))).toBe('IICP-CX-02')
    expect(await codeOf(decryptRequest({ iicpConf: noAad as IicpConf, taskId: TASK, intent: 'urn:iicp:intent:llm:embedding:v1', keyPair: node }))).toBe('IICP-CX-02')
  })

  it('for malformed fields, a wrong version or another recipient key id', async () => {
    const { node, iicpConf } = await sealed()
    const variants = [
      { ...iicpConf, kem_ciphertext: 'AAAA' },
      { ...iicpConf, nonce: '!!!' },
      { ...iicpConf, encrypted_body: 'AA' },
      { ...iicpConf, version: 2 },
      { ...iicpConf, recipient_key_id: 'cx-0000000000000000' },
    ] as IicpConf[]
    for (const v of variants) expect(await codeOf(decryptRequest({ iicpConf: v, taskId: TASK, intent: INTENT, keyPair: node }))).toBe('IICP-CX-02')
  })

  it('with a message that carries neither key material nor payload', async () => {
    const { node, iicpConf } = await sealed()
    const err = await decryptRequest({ iicpConf: { ...iicpConf, encrypted_body: flip(iicpConf.encrypted_body) }, taskId: TASK, intent: INTENT, keyPair: node }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IicpError)
    const text = JSON.stringify((err as IicpError).toJSON())
    expect(text).not.toContain(node.privateKey)
    expect(text).not.toContain('héllo')
    expect((err as IicpError).status).toBe(400)
  })
})

describe('response decryption failures', () => {
  it('are IicpError invalid_response for a wrong secret, a wrong task or a tampered body', async () => {
    const node = await generateCxKeyPair()
    const { responseContext } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    const resp = await encryptResponse({ status: 'completed' }, responseContext)
    const otherSecret = { taskId: TASK, sharedSecret: new Uint8Array(32).fill(7) }
    expect(await codeOf(decryptResponse(resp, otherSecret))).toBe('invalid_response')
    expect(await codeOf(decryptResponse(resp, { ...responseContext, taskId: 'other-task' }))).toBe('invalid_response')
    expect(await codeOf(decryptResponse({ ...resp, encrypted_body: flip(resp.encrypted_body) }, responseContext))).toBe('invalid_response')
    expect(await codeOf(decryptResponse({ ...resp, nonce: 'short' }, responseContext))).toBe('invalid_response')
  })
})

describe('bad inputs to key handling and encryption', () => {
  it('refuse a recipient key that is not 32 bytes of base64url X25519', async () => {
    const node = await generateCxKeyPair()
    const good = cxPublicKeyDescriptor(node)
    for (const recipient of [{ ...good, key: 'AAAA' }, { ...good, key: '***' }, { ...good, algorithm: 'Ed25519' }]) {
      expect(await codeOf(encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: recipient as typeof good }))).toBe('crypto_error')
    }
  })

  it('refuse a low-order recipient key whose shared secret would be all zeros', async () => {
    const node = await generateCxKeyPair()
    const zeroPoint = { ...cxPublicKeyDescriptor(node), key: Buffer.alloc(32).toString('base64url') }
    expect(await codeOf(encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: zeroPoint }))).toBe('crypto_error')
  })

  it('refuse a payload JSON cannot carry with validation_error', async () => {
    const node = await generateCxKeyPair()
    for (const payload of [undefined, { n: 1n }]) {
      expect(await codeOf(encryptRequest({ payload, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) }))).toBe('validation_error')
    }
  })

  it('refuse a private key that is not 32 bytes with invalid_config', async () => {
    for (const bad of ['', 'AAAA', '!'.repeat(43)]) expect(await codeOf(importCxPrivateKey(bad))).toBe('invalid_config')
  })
})

describe('the crypto seam', () => {
  let restore: CryptoBackend | undefined
  afterEach(() => {
    if (restore) setCryptoBackend(restore)
    restore = undefined
  })

  it('routes every IICP-CX primitive through the replaceable backend', async () => {
    const calls = new Set<string>()
    const inner = cryptoBackend()
    const counting = Object.fromEntries(
      Object.entries(inner).map(([name, fn]) => [name, (...args: unknown[]) => {
        calls.add(name)
        return (fn as (...a: unknown[]) => unknown)(...args)
      }]),
    ) as unknown as CryptoBackend
    restore = setCryptoBackend(counting)
    const node = await generateCxKeyPair()
    const { iicpConf } = await encryptRequest({ payload: PAYLOAD, taskId: TASK, intent: INTENT, recipient: cxPublicKeyDescriptor(node) })
    const { responseContext } = await decryptRequest({ iicpConf, taskId: TASK, intent: INTENT, keyPair: node })
    await decryptResponse(await encryptResponse({ ok: true }, responseContext), responseContext)
    expect([...calls].sort()).toEqual([
      'aes256GcmDecrypt', 'aes256GcmEncrypt', 'hkdfSha256', 'randomBytes', 'sha256', 'x25519Ephemeral', 'x25519GenerateKeyPair', 'x25519SharedSecret',
    ])
  })
})
