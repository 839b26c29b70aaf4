/**
 * What this proves, over real HTTP on 127.0.0.1: the long-poll frames addition (offered as `frames: true` at bind).
 * A pull with `?frames=1` gets CALL frames whose bodies are the consumer's bytes as sent, JSON or not; one post of
 * RESULT frames settles every call in it with the worker's status, headers and body; a post with an unreadable frame
 * is 422 and settles none; a late result is dropped. A framed session that still gets a JSON pull fails a body that
 * is not JSON with 400, as it would have been on arrival; a pull may be a POST carrying RESULT frames, which settle
 * their calls before the pull is served (another body there is 422). A long-poll
 * worker of this package uses frames against a relay that offers them: results finished together travel in one
 * request (the next pull when one is about to leave, else a post of their own), split where one would pass 512 KiB.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { RelayTaskHandler, RelayWorker, StartedRelayServer } from '@iicp/relay'
import { FRAMES_MEDIA_TYPE } from '../src/ws-frames.js'
import { post, task } from './consumer.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

async function relay(): Promise<StartedRelayServer> {
  const r = await startRelayServer({ allowUnsignedBinds: true })
  cleanups.push(() => r.close())
  return r
}

/** A frame as the tests write and read it: [u32 length][kind][u32 header length][header JSON][body]. */
function frame(kind: number, header: object, body: Buffer | string): Buffer {
  const head = Buffer.from(JSON.stringify(header))
  const b = Buffer.from(body)
  const out = Buffer.alloc(9 + head.length + b.length)
  out.writeUInt32BE(5 + head.length + b.length, 0)
  out[4] = kind
  out.writeUInt32BE(head.length, 5)
  head.copy(out, 9)
  b.copy(out, 9 + head.length)
  return out
}

function readFrames(data: Buffer): Array<{ kind: number; header: { id: string; h?: Record<string, string>; s?: number }; body: string }> {
  const out = []
  let pos = 0
  while (pos < data.length) {
    const length = data.readUInt32BE(pos)
    const f = data.subarray(pos + 4, pos + 4 + length)
    const hl = f.readUInt32BE(1)
    out.push({ kind: f[0] as number, header: JSON.parse(f.toString('utf8', 5, 5 + hl)) as { id: string }, body: f.toString('utf8', 5 + hl) })
    pos += 4 + length
  }
  return out
}

async function bind(r: StartedRelayServer, workerId: string): Promise<{ auth: Record<string, string>; frames: unknown }> {
  const bound = (await post(`${r.url}/v1/relay/bind`, { worker_id: workerId })).json as { session_token: string; frames: unknown }
  return { auth: { authorization: `Bearer ${bound.session_token}` }, frames: bound.frames }
}

async function pull(r: StartedRelayServer, auth: Record<string, string>, query: string): Promise<{ status: number; type: unknown; body: Buffer }> {
  const res = await request(`${r.url}/v1/relay/pull${query}`, { headers: auth })
  return { status: res.statusCode, type: res.headers['content-type'], body: Buffer.from(await res.body.arrayBuffer()) }
}

async function postFrames(r: StartedRelayServer, auth: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  const res = await request(`${r.url}/v1/relay/result`, { method: 'POST', headers: { ...auth, 'content-type': FRAMES_MEDIA_TYPE }, body })
  return { status: res.statusCode, text: await res.body.text() }
}

async function inFlight(r: StartedRelayServer, workerId: string, n: number): Promise<void> {
  await expect.poll(() => r.relay.sessions.get(workerId)?.inFlight ?? 0, { timeout: 15_000 }).toBe(n)
}

describe('long-poll frames on the relay', () => {
  it('hands out consumer bytes as CALL frames and settles every call of one RESULT frames post', async () => {
    const r = await relay()
    const { auth, frames } = await bind(r, 'w-frames')
    expect(frames).toBe(true)
    // The first framed pull parks; from then on the session's calls are carried as bytes, JSON or not.
    const parked = pull(r, auth, '?max=8&frames=1')
    const first = post(`${r.url}/v1/relay-for/w-frames/v1/task`, task('first'), { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
    const one = await parked
    expect(one.status).toBe(200)
    expect(one.type).toBe(FRAMES_MEDIA_TYPE)
    const [a] = readFrames(one.body)
    expect(a?.kind).toBe(1)
    expect(JSON.parse(a?.body ?? '')).toMatchObject({ payload: { messages: [{ content: 'first' }] } })
    expect(a?.header.h).toMatchObject({ 'content-type': 'application/json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })

    const notJson = post(`${r.url}/v1/relay-for/w-frames/v1/task`, 'not json at all')
    const third = post(`${r.url}/v1/relay-for/w-frames/v1/task`, task('third'))
    await inFlight(r, 'w-frames', 3)
    const two = readFrames((await pull(r, auth, '?max=8&frames=1')).body)
    expect(two.map((f) => f.body)).toContain('not json at all')
    expect(two).toHaveLength(2)

    const results = Buffer.concat([a, ...two].map((f, i) => frame(2, { id: f?.header.id, s: 200 + i, h: { 'x-n': String(i), 'content-type': 'text/plain' } }, `answer ${i}`)))
    expect(await postFrames(r, auth, results)).toEqual({ status: 204, text: '' })
    const answers = await Promise.all([first, notJson, third])
    const byBody = new Map(answers.map((x) => [x.text, x]))
    for (let i = 0; i < 3; i++) {
      const x = byBody.get(`answer ${i}`)
      expect(x?.status).toBe(200 + i)
      expect(x?.headers['x-n']).toBe(String(i))
      expect(x?.headers['content-type']).toBe('text/plain')
      expect(x?.headers['access-control-allow-origin']).toBe('*')
    }
  })

  it('refuses a post with an unreadable frame with 422 and settles none of it, and drops late results', async () => {
    const r = await relay()
    const { auth } = await bind(r, 'w-bad')
    const consumer = post(`${r.url}/v1/relay-for/w-bad/v1/task`, task('wait'))
    await inFlight(r, 'w-bad', 1)
    const [call] = readFrames((await pull(r, auth, '?frames=1')).body)
    const good = frame(2, { id: call?.header.id, s: 200 }, '{"ok":true}')
    const cut = Buffer.concat([good, good.subarray(0, 12)])
    const refused = await postFrames(r, auth, cut)
    expect(refused.status).toBe(422)
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: 'validation_error' } })
    const badStatus = await postFrames(r, auth, Buffer.concat([good, frame(2, { id: 'other', s: 42 }, '')]))
    expect(badStatus.status).toBe(422)
    expect(r.relay.sessions.get('w-bad')?.inFlight).toBe(1)
    // A result for a call nobody waits for is dropped; the good one in the same post still settles its call.
    expect(await postFrames(r, auth, Buffer.concat([frame(2, { id: 'long-gone', s: 200 }, '{}'), good]))).toEqual({ status: 204, text: '' })
    const answer = await consumer
    expect([answer.status, answer.json]).toEqual([200, { ok: true }])
  })

  it('settles the RESULT frames a pull carries (POST) and then serves it as a pull; any other pull body is 422', async () => {
    const r = await relay()
    const { auth } = await bind(r, 'w-carry')
    const first = post(`${r.url}/v1/relay-for/w-carry/v1/task`, task('first'))
    await inFlight(r, 'w-carry', 1)
    const [call] = readFrames((await pull(r, auth, '?frames=1')).body)
    const second = post(`${r.url}/v1/relay-for/w-carry/v1/task`, task('second'))
    await inFlight(r, 'w-carry', 2)
    const res = await request(`${r.url}/v1/relay/pull?max=4&frames=1`, {
      method: 'POST', headers: { ...auth, 'content-type': FRAMES_MEDIA_TYPE }, body: frame(2, { id: call?.header.id, s: 200 }, '{"first":true}'),
    })
    const next = readFrames(Buffer.from(await res.body.arrayBuffer()))
    expect(res.statusCode).toBe(200)
    expect((await first).json).toEqual({ first: true })
    expect(JSON.parse(next[0]?.body ?? '')).toMatchObject({ payload: { messages: [{ content: 'second' }] } })
    const wrong = await request(`${r.url}/v1/relay/pull?frames=1`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })
    expect(wrong.statusCode).toBe(422)
    expect(JSON.parse(await wrong.body.text())).toMatchObject({ error: { code: 'validation_error' } })
    expect(await postFrames(r, auth, frame(2, { id: next[0]?.header.id, s: 200 }, '{}'))).toEqual({ status: 204, text: '' })
    expect((await second).status).toBe(200)
  })

  it('fails a body that is not JSON with 400 when a framed session still gets a JSON pull for it', async () => {
    const r = await relay()
    const { auth } = await bind(r, 'w-mixed')
    // A framed pull first (answered by a valid task), so the next calls are not checked on arrival.
    const framedPull = pull(r, auth, '?frames=1')
    const first = post(`${r.url}/v1/relay-for/w-mixed/v1/task`, task('first'))
    const [f] = readFrames((await framedPull).body)
    expect(await postFrames(r, auth, frame(2, { id: f?.header.id, s: 200 }, '{}'))).toEqual({ status: 204, text: '' })
    expect((await first).status).toBe(200)

    const broken = post(`${r.url}/v1/relay-for/w-mixed/v1/task`, '{"cut off')
    await inFlight(r, 'w-mixed', 1)
    const jsonPull = pull(r, auth, '')
    const refused = await broken
    expect(refused.status).toBe(400)
    expect(refused.json).toMatchObject({ error: { code: 'invalid_json' } })
    // The JSON pull stays parked and takes the next call.
    const next = post(`${r.url}/v1/relay-for/w-mixed/v1/task`, task('next'))
    const answered = await jsonPull
    expect(answered.type).toBe('application/json')
    expect(JSON.parse(answered.body.toString())).toMatchObject({ task: { payload: { messages: [{ content: 'next' }] } } })
    const callId = (JSON.parse(answered.body.toString()) as { call_id: string }).call_id
    await post(`${r.url}/v1/relay/result`, { call_id: callId, http_status: 200, body: '{"n":1}' }, auth)
    expect((await next).json).toEqual({ n: 1 })
  })
})

describe('a long-poll worker against a relay that offers frames', () => {
  interface Carrier { path: string; type: unknown; frames: number; bytes: number }

  /** A relay that reports each request carrying results (a result post, or a pull with a body) before handing it on. */
  async function observed(handleTask: RelayTaskHandler): Promise<{ worker: RelayWorker; posts: Carrier[]; pulls: string[] }> {
    const r = await relay()
    const posts: Carrier[] = []
    const pulls: string[] = []
    const listeners = r.server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
    r.server.removeAllListeners('request')
    r.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '').split('?')[0] as string
      if (path === '/v1/relay/pull') pulls.push(req.url as string)
      if (path === '/v1/relay/result' || (path === '/v1/relay/pull' && req.method === 'POST')) {
        // Count what the request carries from a copy of its bytes; the relay reads it as usual.
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => {
          const body = Buffer.concat(chunks)
          const type = req.headers['content-type']
          posts.push({ path, type, frames: type === FRAMES_MEDIA_TYPE ? readFrames(body).length : 1, bytes: body.length })
        })
      }
      for (const l of listeners) l(req, res)
    })
    const worker = createRelayWorker({ relayUrl: r.url, workerId: 'lp-framed', transport: 'http', handleTask })
    cleanups.push(() => worker.close())
    await worker.start()
    return { worker, posts, pulls }
  }

  /** A handler that answers nothing until `count` calls are running, then answers them all at once. */
  function barrier(count: number, size = 0): RelayTaskHandler {
    const waiting: Array<() => void> = []
    return (body) => new Promise((resolve) => {
      const t = JSON.parse(body.toString('utf8')) as { task_id: string }
      waiting.push(() => resolve({ status: 200, body: { task_id: t.task_id, pad: 'x'.repeat(size) } }))
      if (waiting.length === count) for (const answer of waiting.splice(0)) answer()
    })
  }

  it('pulls frames, and sends the sixteen results it finished together in one request: the next pull', async () => {
    const { worker, posts, pulls } = await observed(barrier(16))
    const tasks = Array.from({ length: 16 }, (_, i) => task(`task ${i}`))
    const answers = await Promise.all(tasks.map((t) => post(`${worker.relayEndpoint}/v1/task`, t)))
    expect(answers.map((a) => [a.status, (a.json as { task_id: string }).task_id])).toEqual(tasks.map((t) => [200, t.task_id]))
    expect(pulls.every((u) => /[?&]frames=1(&|$)/.test(u))).toBe(true)
    // The barrier answers all sixteen in the turn the last call arrives, and the pull that brought it goes out next.
    expect(posts).toEqual([{ path: '/v1/relay/pull', type: FRAMES_MEDIA_TYPE, frames: 16, bytes: expect.any(Number) as number }])
  })

  it('posts the results a slow handler finishes later on their own, without waiting for a pull', async () => {
    let release: () => void = () => undefined
    let started: (pullsSoFar: number) => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    const running = new Promise<number>((r) => (started = r))
    const { worker, posts, pulls } = await observed(async (body) => {
      started(pulls.length)
      await gate
      return { status: 200, body: { task_id: (JSON.parse(body.toString()) as { task_id: string }).task_id } }
    })
    const t = task('slow')
    const answer = post(`${worker.relayEndpoint}/v1/task`, t)
    // Released once the pull that brought the call has been sent again (empty): the answer then has no pull to ride.
    const pullsSoFar = await running
    await expect.poll(() => pulls.length, { timeout: 15_000 }).toBeGreaterThan(pullsSoFar)
    release()
    expect(((await answer).json as { task_id: string }).task_id).toBe(t.task_id)
    expect(posts.map((p) => [p.path, p.frames])).toEqual([['/v1/relay/result', 1]])
  })

  it('splits results finished together where one post would pass 512 KiB', async () => {
    const { worker, posts } = await observed(barrier(3, 200 * 1024))
    const tasks = Array.from({ length: 3 }, (_, i) => task(`big ${i}`))
    const answers = await Promise.all(tasks.map((t) => post(`${worker.relayEndpoint}/v1/task`, t)))
    expect(answers.map((a) => [a.status, (a.json as { task_id: string; pad: string }).pad.length])).toEqual(tasks.map(() => [200, 200 * 1024]))
    // Two of the three fit in one request; the third goes in another (which one arrives first is up to the sockets).
    expect(posts.map((p) => p.frames).sort()).toEqual([1, 2])
    expect(posts.every((p) => p.bytes <= 512 * 1024)).toBe(true)
  })
})
