/**
 * What this proves, over raw sockets: `HEAD /iicp/health` answers like GET without a body (monitoring tools
 * probe with HEAD), other methods on it and HEAD elsewhere stay 405 `method_not_allowed`, and request headers
 * over node:http's limit get 431 with the JSON error shape instead of a 400 "malformed" answer; the node keeps
 * serving after each. Both with the single-port native listener in front and without it.
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IicpNode, echo } from '../src/index.js'
import { call } from './support/http.js'

/** Send `data`, half-close, and read everything the node answers until it closes. */
function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(data))
    let out = ''
    s.on('data', (c: Buffer) => { out += c.toString('latin1') })
    s.on('end', () => resolve(out))
    s.on('error', reject)
  })
}

interface Parsed { status: number; headers: Map<string, string>; body: string }

function parse(answer: string): Parsed {
  const split = answer.indexOf('\r\n\r\n')
  expect(split).toBeGreaterThan(0)
  const [statusLine = '', ...lines] = answer.slice(0, split).split('\r\n')
  const headers = new Map<string, string>()
  for (const l of lines) {
    const colon = l.indexOf(':')
    headers.set(l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim())
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: answer.slice(split + 4) }
}

describe.each([
  { listener: 'plain HTTP listener', native: false as const },
  { listener: 'single-port native listener', native: undefined },
])('node HTTP edge cases ($listener)', ({ native }) => {
  let node: IicpNode
  let port: number
  beforeAll(async () => {
    node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), ...(native === false ? { native } : {}) })
    await node.serve()
    port = node.port as number
  })
  afterAll(async () => {
    await node.close()
  })

  it('answers HEAD /iicp/health like GET, with no body', async () => {
    const get = parse(await raw(port, 'GET /iicp/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    const head = parse(await raw(port, 'HEAD /iicp/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    expect(get.status).toBe(200)
    expect(head.status).toBe(200)
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'))
    expect(head.headers.get('content-type')).toMatch(/^application\/json/)
    // An idle node's health body is the same from one request to the next, so the lengths match exactly.
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(get.body)))
    expect(head.body).toBe('')
    expect(JSON.parse(get.body)).toMatchObject({ status: 'ok', node_id: node.nodeId })
  })

  it('keeps 405 JSON for other methods on /iicp/health, and HEAD elsewhere is still 405', async () => {
    const put = parse(await raw(port, 'PUT /iicp/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'))
    expect(put.status).toBe(405)
    expect(put.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
    expect(JSON.parse(put.body)).toEqual({ error: { code: 'method_not_allowed', message: expect.any(String) } })
    const headTask = parse(await raw(port, 'HEAD /v1/task HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    expect(headTask.status).toBe(405)
    expect(headTask.headers.get('allow')).toBe('POST, OPTIONS')
    expect(headTask.body).toBe('')
  })

  it('answers oversized request headers with 431 and a JSON error, and keeps serving', async () => {
    // node:http's default limit is 16 KiB for the whole header block.
    const big = parse(await raw(port, `GET /iicp/health HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(32 * 1024)}\r\n\r\n`))
    expect(big.status).toBe(431)
    expect(big.headers.get('content-type')).toMatch(/^application\/json/)
    expect(big.headers.get('content-length')).toBe(String(Buffer.byteLength(big.body)))
    expect(JSON.parse(big.body)).toEqual({ error: { code: 'validation_error', message: 'Request headers too large' } })
    // Still a 400 for a request that is malformed rather than large.
    const bad = parse(await raw(port, 'POST /v1/task HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n{}'))
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: 'validation_error' } })
    expect((await call(`${node.url}/iicp/health`)).status).toBe(200)
  })
})
