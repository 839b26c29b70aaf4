// A minimal consumer for the tests: real HTTP to 127.0.0.1 through undici, answers read whole.
import { request } from 'undici'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: unknown
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return read(res)
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return read(await request(url, { method: 'GET', headers }))
}

async function read(res: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  const text = await res.body.text()
  let json: unknown
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

export function task(content: string, taskId = crypto.randomUUID()): Record<string, unknown> {
  return {
    task_id: taskId,
    intent: 'urn:iicp:intent:llm:chat:v1',
    payload: { messages: [{ role: 'user', content }] },
    constraints: { timeout_ms: 30_000, qos: 'batch' },
  }
}
