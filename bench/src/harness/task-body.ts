/** The one task body every HTTP benchmark sends, so candidates and baselines do identical work. */
export const CHAT_INTENT = 'urn:iicp:intent:llm:chat:v1'
export const TASK_PAYLOAD = { messages: [{ role: 'user' as const, content: 'hello from the benchmark' }] }
export const TASK_BODY = JSON.stringify({
  task_id: '8a9f52e3-65f9-4f3d-8580-298416f6c5b8',
  intent: CHAT_INTENT,
  payload: TASK_PAYLOAD,
  constraints: { timeout_ms: 30000, qos: 'batch' },
})
export const JSON_HEADERS = { 'content-type': 'application/json' }
