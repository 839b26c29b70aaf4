/**
 * The official relay nodes' mesh relay route (official-sdks.md §5.3): `POST /v1/relay` with
 * `{target_node_id, task}` hands `task` to the bound worker `target_node_id`, exactly as
 * `POST /v1/relay-for/{target_node_id}/v1/task` would. Only bound sessions are targets: this relay keeps no gossip
 * peer list, so any other id gets the answer an unknown relay-for worker gets, 404 `IICP-E030`. A missing or
 * malformed field is 422 `IICP-E000`, as the official relays answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { IicpError } from '@iicp/protocol'
import { isValidWorkerId } from '../schemas.js'
import { CORS_HEADERS, parseJsonObject, readBodyThen, sendError } from './http-io.js'
import type { RelaySession, RelaySessionTable } from './relay-session.js'

/** The route's path. */
export const MESH_RELAY_PATH = '/v1/relay'

/** What the route needs from the relay server it lives in. */
export interface MeshRelayHost {
  readonly sessions: RelaySessionTable
  readonly maxBodyBytes: number
  now(): number
  /** Drop a session found dead on the way (as relay-for does). */
  drop(session: RelaySession): void
  /** Forward the task bytes down the session and answer the consumer (the relay-for task path). */
  forward(session: RelaySession, body: Buffer): void
}

function fieldError(field: string, rule: string): IicpError {
  return new IicpError('IICP-E000', `${field} ${rule}`, { status: 422, fields: { [field]: [rule] } })
}

/** Serve `POST /v1/relay`; the caller has matched the path. */
export function serveMeshRelay(req: IncomingMessage, res: ServerResponse, host: MeshRelayHost): void {
  if (req.method === 'OPTIONS') {
    if (!res.headersSent) {
      res.writeHead(204, { ...CORS_HEADERS, 'access-control-max-age': '86400' })
      res.end()
    }
    return
  }
  if (req.method !== 'POST') {
    sendError(res, new IicpError('method_not_allowed', `${MESH_RELAY_PATH} takes POST`))
    return
  }
  // The task is nested one level down, so the envelope may be a little larger than a relay-for body.
  readBodyThen(req, host.maxBodyBytes + 4096, (err, body) => {
    if (err || !body) {
      sendError(res, err)
      return
    }
    let target: string
    let task: Record<string, unknown>
    try {
      const envelope = parseJsonObject(body)
      const t = envelope.target_node_id
      if (typeof t !== 'string' || t === '') throw fieldError('target_node_id', 'is required: the node id of a worker bound to this relay')
      const k = envelope.task
      if (typeof k !== 'object' || k === null || Array.isArray(k)) throw fieldError('task', 'is required: the task object to forward')
      target = t
      task = k as Record<string, unknown>
    } catch (e) {
      sendError(res, e)
      return
    }
    const session = isValidWorkerId(target) ? host.sessions.alive(target, host.now()) : undefined
    if (session === undefined) {
      const dead = isValidWorkerId(target) ? host.sessions.get(target) : undefined
      if (dead !== undefined) host.drop(dead)
      sendError(res, new IicpError('IICP-E030', 'no alive relay session for this target node', { status: 404 }))
      return
    }
    host.forward(session, Buffer.from(JSON.stringify(task), 'utf8'))
  })
}
