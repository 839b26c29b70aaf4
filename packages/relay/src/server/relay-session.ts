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

/** Receives the outcome of one call: the worker's answer, or the error the consumer gets instead. */
export type RelayCallSettle = (err: IicpError | undefined, response: RelayCallResponse | undefined) => void

interface PendingCall {
  readonly settle: RelayCallSettle
  /** `performance.now()` by which the worker must have answered. */
  readonly deadline: number
  readonly timeoutMs: number
  readonly taskId: string | undefined
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
  // One deadline timer per session, armed for the earliest pending deadline, instead of a timer per call: a
  // busy session then creates and clears no timer per task.
  #timer: NodeJS.Timeout | undefined
  #timerDue = Number.POSITIVE_INFINITY

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
    return new Promise<RelayCallResponse>((resolve, reject) => {
      this.dispatch(call, timeoutMs, (err, response) => {
        if (err) reject(err)
        else resolve(response as RelayCallResponse)
      })
    })
  }

  /**
   * {@link call} without a promise, for the relay's own request path: `settle` runs exactly once, never
   * synchronously inside this call unless the session is closed or the link refuses the call.
   */
  dispatch(call: RelayCall, timeoutMs: number, settle: RelayCallSettle): void {
    if (this.#closed) {
      settle(workerGone('worker session closed'), undefined)
      return
    }
    const deadline = performance.now() + timeoutMs
    this.#pending.set(call.callId, { settle, deadline, timeoutMs, taskId: taskIdOf(call.task) })
    try {
      this.link.send(call)
    } catch (cause) {
      this.#pending.delete(call.callId)
      settle(workerGone('could not hand the task to the worker', cause), undefined)
      return
    }
    // A link may answer a call it cannot carry at once (a long-poll body that is not JSON).
    if (this.#pending.has(call.callId)) this.#arm(deadline)
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
    if (this.#pending.size === 0) this.#timer?.unref()
    pending.settle(undefined, response)
    return true
  }

  /** Abandon a call (the consumer went away). */
  abandon(callId: string): void {
    const pending = this.#pending.get(callId)
    if (!pending) return
    this.#pending.delete(callId)
    if (this.#pending.size === 0) this.#timer?.unref()
    this.link.cancel(callId)
    pending.settle(new IicpError('aborted', 'consumer went away'), undefined)
  }

  /** Close the session: every pending call fails with `err`. Idempotent. */
  close(reason: string, err: IicpError = workerGone(`worker session ended: ${reason}`)): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of pending) p.settle(err, undefined)
    this.link.close(reason)
  }

  /** Make sure the timer fires by `deadline`; it holds the process open only while calls are pending. */
  #arm(deadline: number): void {
    if (this.#timer !== undefined && this.#timerDue <= deadline) {
      this.#timer.ref()
      return
    }
    clearTimeout(this.#timer)
    this.#timerDue = deadline
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(deadline - performance.now())))
  }

  /** Fail every call past its deadline with 504, then re-arm for the earliest one left. */
  readonly #expire = (): void => {
    this.#timer = undefined
    this.#timerDue = Number.POSITIVE_INFINITY
    // Timers run on the loop's cached clock and may fire a little before a deadline read from performance.now().
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const [callId, p] of this.#pending) {
      if (p.deadline > now) {
        if (p.deadline < next) next = p.deadline
        continue
      }
      this.#pending.delete(callId)
      this.link.cancel(callId)
      p.settle(new IicpError('task_timeout', `relay: worker did not answer within ${p.timeoutMs} ms`), undefined)
    }
    if (next !== Number.POSITIVE_INFINITY && !this.#closed) this.#arm(next)
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
