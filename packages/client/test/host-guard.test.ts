/**
 * The address checks of the one HTTP path (endpoint-security profile v1; wire.md §5.3). `guardedLookup`, the
 * connector lookup of the client's own Agent, is the rebinding defence: it validates the very answer that is dialled,
 * refusing loopback, private and mixed answers and a name that turns private on a later lookup. An injected
 * `dispatcher` dials by its own resolver, where that lookup cannot sit; without `allowPrivateEndpoints` the transport
 * then resolves each host itself before sending (cached per origin for 10 s, one resolution for concurrent misses)
 * and refuses a non-public answer with IICP-POLICY-ROUTING, so a public-looking name that resolves to 127.0.0.1 is not
 * sent to. Real undici Agents and a real test node on loopback; resolvers are scripted, and the system resolver is only
 * asked about `localhost` and IP literals, which it answers without the network.
 */
import type { LookupAddress } from 'node:dns'
import { afterEach, describe, expect, it } from 'vitest'
import { Agent } from 'undici'
import { IicpError, isIicpError } from '@iicp/protocol'
import { SignalCancellation } from '../src/deadline.js'
import type { Cancellation } from '../src/deadline.js'
import { HOST_CHECK_TTL_MS, HttpTransport, guardLookup, guardedLookup } from '../src/http.js'
import type { HostLookup, HttpRequest } from '../src/http.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const NAME = 'mesh-node.example.com'
const never: Cancellation = { reason: undefined, subscribe: () => () => {} }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** Call a connector lookup and report what it answered. */
function runLookup(lookup: typeof guardedLookup, host: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number | undefined }> {
  return new Promise((resolve) => lookup(host, { all }, (err, address, family) => resolve({ err, address, family })))
}

/** A scripted resolver: each call takes the next answer (the last one repeats); `calls` counts them. */
function scripted(...answers: (string[] | NodeJS.ErrnoException)[]): HostLookup & { calls: number } {
  const fn = ((_host: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null, list: LookupAddress[]) => void) => {
    const a = answers[Math.min(fn.calls, answers.length - 1)] as string[] | NodeJS.ErrnoException
    fn.calls += 1
    if (Array.isArray(a)) cb(null, a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
    else cb(a, [])
  }) as HostLookup & { calls: number }
  fn.calls = 0
  return fn
}

/** An injected dispatcher whose own resolver sends NAME to the loopback test node, as a split-horizon or rebound DNS would. */
function loopbackDialler(): Agent {
  const agent = new Agent({
    connect: { lookup: (_h: string, o: { all?: boolean }, cb: (e: null, a: string | LookupAddress[], f?: number) => void) => (o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) },
  })
  closers.push(() => agent.close())
  return agent
}

async function node(): Promise<TestNode> {
  const n = await startTestNode()
  closers.push(() => n.close())
  return n
}

function task(origin: string, cancel: Cancellation = never): HttpRequest {
  return {
    origin, path: '/v1/task', method: 'POST', cancel,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task_id: '0b6f4a52-3f0e-4d55-9c1e-2f8f5e0c1a77', intent: 'urn:iicp:intent:llm:chat:v1', payload: { messages: [] } }),
  }
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a rejection')
}

describe('guardedLookup: the rebinding defence of the client\'s own Agent', () => {
  it('refuses localhost and loopback literals from the system resolver, and passes a public literal through as is', async () => {
    for (const host of ['localhost', '127.0.0.1', '::1']) {
      const r = await runLookup(guardedLookup, host, false)
      expect(r.err?.code).toBe('IICP_ENDPOINT_REFUSED')
    }
    expect(await runLookup(guardedLookup, '8.8.8.8', false)).toEqual({ err: null, address: '8.8.8.8', family: 4 })
    expect(await runLookup(guardedLookup, '8.8.8.8', true)).toEqual({ err: null, address: [{ address: '8.8.8.8', family: 4 }], family: undefined })
  })

  it('refuses an answer that mixes a public address with a private one', async () => {
    for (const mixed of [['8.8.8.8', '10.0.0.7'], ['8.8.8.8', '::1'], ['169.254.169.254'], ['100.64.0.1'], []]) {
      const r = await runLookup(guardLookup(scripted(mixed)), NAME, true)
      expect(r.err?.code).toBe('IICP_ENDPOINT_REFUSED')
      expect(r.address).toEqual([])
    }
  })

  it('checks every lookup afresh, so a name that turns private on the next resolution (rebinding) is refused then', async () => {
    const lookup = guardLookup(scripted(['8.8.8.8'], ['127.0.0.1']))
    expect((await runLookup(lookup, NAME, false)).address).toBe('8.8.8.8')
    expect((await runLookup(lookup, NAME, false)).err?.code).toBe('IICP_ENDPOINT_REFUSED')
  })

  it('passes resolver failures through for the transport to report', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })
    expect((await runLookup(guardLookup(scripted(notFound)), NAME, false)).err?.code).toBe('ENOTFOUND')
  })

  it('stops the client\'s own Agent before it connects: IICP-POLICY-ROUTING and no request at the node', async () => {
    const n = await node()
    const port = new URL(n.url).port
    const http = new HttpTransport(undefined, false, { lookup: scripted(['127.0.0.1']) })
    closers.push(() => http.close())
    const err = await failure(http.send(task(`http://${NAME}:${port}`)))
    expect(err.code).toBe('IICP-POLICY-ROUTING')
    expect(n.requests).toHaveLength(0)
  })
})

describe('an injected dispatcher without allowPrivateEndpoints', () => {
  it('dials the loopback node by its own resolver when private endpoints are allowed (the control)', async () => {
    const n = await node()
    const http = new HttpTransport(loopbackDialler(), true, { lookup: scripted(['127.0.0.1']) })
    const res = await http.send(task(`http://${NAME}:${new URL(n.url).port}`))
    expect(res.status).toBe(200)
    expect(n.requests).toHaveLength(1)
  })

  it('is not sent a request for a public-looking name that resolves to 127.0.0.1', async () => {
    const n = await node()
    const lookup = scripted(['127.0.0.1'])
    const http = new HttpTransport(loopbackDialler(), false, { lookup })
    const err = await failure(http.send(task(`http://${NAME}:${new URL(n.url).port}`)))
    expect(err.code).toBe('IICP-POLICY-ROUTING')
    expect(err.message).toBe('Endpoint resolves to a non-public address')
    expect(lookup.calls).toBe(1)
    expect(n.requests).toHaveLength(0)
  })

  it('refuses a private IP literal without asking the resolver', async () => {
    const n = await node()
    const lookup = scripted(['8.8.8.8'])
    const http = new HttpTransport(loopbackDialler(), false, { lookup })
    expect((await failure(http.send(task(n.url)))).code).toBe('IICP-POLICY-ROUTING')
    expect(lookup.calls).toBe(0)
    expect(n.requests).toHaveLength(0)
  })

  it('resolves a host once per 10 s, not per request; concurrent requests share the one resolution', async () => {
    const n = await node()
    let now = 0
    // The check's resolver calls the name public; the dispatcher's own one still dials the loopback node.
    const lookup = scripted(['8.8.8.8'])
    const http = new HttpTransport(loopbackDialler(), false, { lookup, now: () => now })
    const origin = `http://${NAME}:${new URL(n.url).port}`
    const burst = await Promise.all([http.send(task(origin)), http.send(task(origin)), http.send(task(origin))])
    expect(burst.map((r) => r.status)).toEqual([200, 200, 200])
    await http.send(task(origin))
    expect(lookup.calls).toBe(1)
    now += HOST_CHECK_TTL_MS - 1
    await http.send(task(origin))
    expect(lookup.calls).toBe(1)
    now += 1
    await http.send(task(origin))
    expect(lookup.calls).toBe(2)
    expect(n.requests).toHaveLength(6)
  })

  it('remembers a refusal for the same time, and does not remember a resolver failure', async () => {
    const n = await node()
    const origin = `http://${NAME}:${new URL(n.url).port}`
    const refusing = scripted(['10.1.2.3'])
    const a = new HttpTransport(loopbackDialler(), false, { lookup: refusing })
    for (let i = 0; i < 2; i++) expect((await failure(a.send(task(origin)))).code).toBe('IICP-POLICY-ROUTING')
    expect(refusing.calls).toBe(1)
    const failing = scripted(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' }), ['8.8.8.8'])
    const b = new HttpTransport(loopbackDialler(), false, { lookup: failing })
    const err = await failure(b.send(task(origin)))
    expect(err.code).toBe('connection_failed')
    expect(err.message).toBe('Connection failed (EAI_AGAIN)')
    expect((await b.send(task(origin))).status).toBe(200)
    expect(failing.calls).toBe(2)
    expect(n.requests).toHaveLength(1)
  })

  it('gives up on a resolver that never answers when the call is cancelled', async () => {
    const n = await node()
    let asked: () => void = () => {}
    const askedOnce = new Promise<void>((resolve) => { asked = resolve })
    const hanging: HostLookup = () => asked()
    const http = new HttpTransport(loopbackDialler(), false, { lookup: hanging })
    const ac = new AbortController()
    const outcome = failure(http.send(task(`http://${NAME}:${new URL(n.url).port}`, new SignalCancellation(ac.signal))))
    await askedOnce
    ac.abort(new IicpError('aborted'))
    expect((await outcome).code).toBe('aborted')
    expect(n.requests).toHaveLength(0)
  })
})
