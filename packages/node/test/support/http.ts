/** Small real-HTTP helpers for node tests (undici, loopback only). */
import { randomUUID } from 'node:crypto'
import { request } from 'undici'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: unknown
}

export async function call(url: string, init: { method?: string; body?: string | object; headers?: Record<string, string> } = {}): Promise<Answer> {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body)
  const res = await request(url, {
    method: (init.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET',
    headers: { 'content-type': 'application/json', ...init.headers },
    body,
  })
  const text = await res.body.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

/** A fresh UUID v4. */
export function taskId(): string {
  return randomUUID()
}

export const CHAT = 'urn:iicp:intent:llm:chat:v1'

export function chatTask(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    task_id: taskId(),
    intent: CHAT,
    payload: { messages: [{ role: 'user', content: 'hello mesh' }] },
    constraints: { timeout_ms: 5000, qos: 'batch' },
    ...extra,
  }
}
