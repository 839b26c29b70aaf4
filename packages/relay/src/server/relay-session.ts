/**
 * One relay session table for every transport (IICP-DIR §7.2): a session is a bound worker plus the link that
 * carries calls to it. WebSocket and long-poll links live here; a later TCP link implements the same interface.
 */
import { IicpError } from '@iicp/protocol'

/** Which transport carries a session. */
export type RelayTransportKind = 'ws' | 'http' | 'tcp'

/** A consumer task on its way to a worker. */
export interface RelayCall {
  /** Relay-made id; results are matched on it. */
  readonly callId: string
  /** The consumer's task body, byte for byte. */
  readonly body: Buffer
  /** Consumer request headers, hop-by-hop headers removed, names lower-case. */
  readonly headers: Record<string, string>
  /** The parsed body, when a transport needed it (long-poll embeds the task in JSON). */
  readonly task?: unknown
}

/** A worker's answer to one call. */
export interface RelayCallResponse {
  status: number
  headers?: Record<string, string>
  body: Buffer | string
}

/** What a transport provides to carry calls to one bound worker. */
export interface RelayLink {
  readonly transport: RelayTransportKind
  /** Hand a call to the worker (push it, or queue it for the next pull). */
  send(call: RelayCall): void
  /** Tell the worker a call was abandoned (best effort). */
  cancel(callId: string): void
  /** IICP-DIR §7.2: alive while connected (ws, tcp) or pulled within the liveness window (http). */
  isAlive(nowMs: number): boolean
  /** Tear the link down; must not call back into the session. */
  close(reason: string): void
}

interface PendingCall {
  resolve(response: RelayCallResponse): void
  reject(err: IicpError): void
  timer: NodeJS.Timeout
  taskId: string | undefined
}

/** A bound worker (IICP-DIR §7.2). */
export class RelaySession {
  readonly workerId: string
  readonly intent: string | undefined
  readonly models: readonly string[]
  readonly link: RelayLink
  readonly boundAtMs: number
  #pending = new Map<string, PendingCall>()
  #closed = false

  constructor(init: { workerId: string; intent?: string | undefined; models?: readonly string[] | undefined; link: RelayLink; boundAtMs: number }) {
    this.workerId = init.workerId
    this.intent = init.intent
    this.models = init.models ?? []
    this.link = init.link
    this.boundAtMs = init.boundAtMs
  }

  /** Calls waiting for a result. */
  get inFlight(): number {
    return this.#pending.size
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Forward a call; settles with the worker's answer, 504 `task_timeout`, or 502 `IICP-E031` when the worker goes. */
  call(call: RelayCall, timeoutMs: number): Promise<RelayCallResponse> {
    if (this.#closed) return Promise.reject(workerGone('worker session closed'))
    return new Promise<RelayCallResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(call.callId)) {
          this.link.cancel(call.callId)
          reject(new IicpError('task_timeout', `relay: worker did not answer within ${timeoutMs} ms`))
        }
      }, timeoutMs)
      this.#pending.set(call.callId, { resolve, reject, timer, taskId: taskIdOf(call.task) })
      try {
        this.link.send(call)
      } catch (cause) {
        this.#pending.delete(call.callId)
        clearTimeout(timer)
        reject(workerGone('could not hand the task to the worker', cause))
      }
    })
  }

  /** The task_id of a pending call (for the reference relay's merged reply). */
  taskIdOf(callId: string): string | undefined {
    return this.#pending.get(callId)?.taskId
  }

  /** Settle a call with the worker's answer; false when it is unknown (late, or already timed out). */
  resolve(callId: string, response: RelayCallResponse): boolean {
    const pending = this.#pending.get(callId)
    if (!pending) return false
    this.#pending.delete(callId)
    clearTimeout(pending.timer)
    pending.resolve(response)
    return true
  }

  /** Abandon a call (the consumer went away). */
  abandon(callId: string): void {
    const pending = this.#pending.get(callId)
    if (!pending) return
    this.#pending.delete(callId)
    clearTimeout(pending.timer)
    this.link.cancel(callId)
    pending.reject(new IicpError('aborted', 'consumer went away'))
  }

  /** Close the session: every pending call fails with `err`. Idempotent. */
  close(reason: string, err: IicpError = workerGone(`worker session ended: ${reason}`)): void {
    if (this.#closed) return
    this.#closed = true
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.#pending.clear()
    this.link.close(reason)
  }
}

/** 502 `IICP-E031`: the relay could not deliver to, or hear back from, the worker (core §7). */
export function workerGone(message: string, cause?: unknown): IicpError {
  return new IicpError('IICP-E031', message, { status: 502, retryable: true, cause })
}

function taskIdOf(task: unknown): string | undefined {
  if (typeof task !== 'object' || task === null) return undefined
  const id = (task as { task_id?: unknown }).task_id
  return typeof id === 'string' ? id : undefined
}

/** The relay's session table, keyed by worker id (IICP-DIR §7.2, §7.3). */
export class RelaySessionTable {
  #byWorker = new Map<string, RelaySession>()

  get size(): number {
    return this.#byWorker.size
  }

  get(workerId: string): RelaySession | undefined {
    return this.#byWorker.get(workerId)
  }

  /** The session only when it is alive. */
  alive(workerId: string, nowMs: number): RelaySession | undefined {
    const session = this.#byWorker.get(workerId)
    return session && !session.closed && session.link.isAlive(nowMs) ? session : undefined
  }

  values(): IterableIterator<RelaySession> {
    return this.#byWorker.values()
  }

  /** Count alive sessions. */
  countAlive(nowMs: number): number {
    let n = 0
    for (const s of this.#byWorker.values()) if (!s.closed && s.link.isAlive(nowMs)) n++
    return n
  }

  /** @internal Insert, replacing whatever was there. */
  set(session: RelaySession): void {
    this.#byWorker.set(session.workerId, session)
  }

  /** @internal Remove `session` only if it still owns its worker id (a rebind may have replaced it). */
  delete(session: RelaySession): boolean {
    if (this.#byWorker.get(session.workerId) !== session) return false
    this.#byWorker.delete(session.workerId)
    return true
  }
}
