/**
 * The bodies the reference Python SDK (iicp-client 0.7.107) sends, as captured on the wire in
 * reference-implementations §3.1, §3.2 and §3.5, are accepted as they are: its REGISTER (custom node id,
 * CX key, updater evidence with nulls), its HEARTBEAT (token repeated in the body, `status`, metrics
 * batch, challenge response) and its dispatch-ticket request; and the ACK carries what it reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { heartbeatChallengeResponse } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, startHealthServer } from './http-support.js'

describe('interoperability with the reference Python SDK', () => {
  let dir: RunningDirectory
  let node: Awaited<ReturnType<typeof startHealthServer>>
  beforeAll(async () => {
    dir = await startDirectory({ port: 0, pruneIntervalMs: 0 })
    node = await startHealthServer()
  })
  afterAll(async () => {
    await dir.close()
    await node.close()
  })

  it('accepts the Python node register, heartbeat and ticket bodies unchanged', async () => {
    const register = {
      endpoint: node.url, region: 'local',
      capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], max_tokens: 8192, input_modalities: ['text'] }],
      limits: { max_concurrent: 4, tokens_per_min: 10000 },
      node_id: 'py-echo-node-1', sdk_language: 'python', sdk_version: '0.7.107',
      sdk_latest_seen: null, sdk_update_last_checked_at: null, sdk_update_error_class: null,
      auto_update_enabled: false, auto_update_interval_s: 3600,
      cx_public_key: { algorithm: 'X25519', encoding: 'base64url', key: 'Gb3mwPjEwgWbMtjGL6KG2cxmuw413H6oL39DD0UsHzg', key_id: 'cx-0c4ab33480ce633e', features: ['response_encryption_v1'] },
    }
    const ack = await call(dir.url, 'POST', '/api/v1/register', { body: register })
    expect(ack.status).toBe(201)
    expect(ack.json).toMatchObject({ node_id: 'py-echo-node-1', expires_at: null, observed_source_ip: '127.0.0.1' })
    for (const k of ['node_token', 'proxy_token', 'node_hmac_key']) expect(typeof ack.json[k]).toBe('string')
    const token = ack.json.node_token as string

    const beat = (extra: Record<string, unknown>): Record<string, unknown> => ({
      node_id: 'py-echo-node-1', node_token: token, status: 'available', available: true, max_concurrent: 4,
      sdk_latest_seen: null, sdk_update_last_checked_at: null, sdk_update_error_class: null,
      auto_update_enabled: false, auto_update_interval_s: 3600, ...extra,
    })
    const first = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: beat({}) })
    expect(first.status).toBe(200)
    const second = await call(dir.url, 'POST', '/api/v1/heartbeat', {
      token,
      body: beat({
        metrics: { tasks_success: 2, tasks_failed: 0, avg_latency_ms: 2.73 },
        metrics_batch_id: '226a559d-6dec-45c0-b62a-31ddae6c7831',
        challenge_response: await heartbeatChallengeResponse(ack.json.node_hmac_key as string, first.json.challenge as string),
      }),
    })
    expect(second.status).toBe(200)
    expect(second.json).toMatchObject({ ok: true, metrics_batch_accepted: '226a559d-6dec-45c0-b62a-31ddae6c7831', challenge_status: 'verified' })

    const ticket = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', {
      body: { intent: 'urn:iicp:intent:llm:chat:v1', limit: 10, qos: 'batch', exclude_node_id_prefixes: [] },
    })
    expect(ticket.status).toBe(201)
    expect(ticket.json).toMatchObject({ node_id: 'py-echo-node-1', node_id_prefix: 'py-echo-' })
    expect((ticket.json.route as Record<string, unknown>).cx_public_key).toEqual(register.cx_public_key)
    // Once excluded by its 8-char prefix there is nobody left.
    const none = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', {
      body: { intent: 'urn:iicp:intent:llm:chat:v1', exclude_node_id_prefixes: ['py-echo-'] },
    })
    expect(none.status).toBe(404)
    expect((none.json.error as { code: string }).code).toBe('no_route_available')
  })
})
