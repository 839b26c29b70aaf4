/**
 * Node metrics (wire.md §2.6; dir §3.8): the spec's Prometheus names through prom-client, one registry
 * per node, plus the small delta counters the heartbeat reports (`metrics`, wire.md §1.3).
 * Label-bound children are cached so the task path does a map lookup and an add, nothing more.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Bucket bounds of `iicp_task_latency_ms` named by the spec (dir §3.8). */
export const LATENCY_BUCKETS_MS: readonly number[] = [10, 50, 100, 250, 500, 1000, 2500, 5000, 30000]

/** Task outcome label values of `iicp_tasks_total`. */
export type TaskOutcome = 'success' | 'error' | 'timeout' | 'rejected'

type BoundCounter = ReturnType<Counter<'status' | 'intent' | 'qos'>['labels']>

interface Bound {
  readonly success: BoundCounter
  readonly error: BoundCounter
  readonly timeout: BoundCounter
  readonly rejected: BoundCounter
  readonly latency: ReturnType<Histogram<'intent' | 'qos'>['labels']>
}

/** Heartbeat metrics batch: deltas since the last batch the directory acknowledged. */
export type HeartbeatDelta = {
  readonly tasks_success: number
  readonly tasks_failed: number
  readonly avg_latency_ms: number
}

/** Per-node metrics: Prometheus exposition and heartbeat deltas. */
export class NodeMetrics {
  /** The node's own registry (never the global one, so two nodes in one process stay apart). */
  readonly registry = new Registry()
  private readonly tasks: Counter<'status' | 'intent' | 'qos'>
  private readonly latency: Histogram<'intent' | 'qos'>
  private readonly tokens: Counter<'intent'>
  private readonly heartbeatFailures: Counter<'reason'>
  private readonly bound = new Map<string, Bound>()
  private pendingSuccess = 0
  private pendingFailed = 0
  private pendingLatencySum = 0

  constructor(activeJobs: () => number) {
    this.tasks = new Counter({ name: 'iicp_tasks_total', help: 'Tasks handled, by outcome', labelNames: ['status', 'intent', 'qos'], registers: [this.registry] })
    this.latency = new Histogram({
      name: 'iicp_task_latency_ms', help: 'Task latency in milliseconds', labelNames: ['intent', 'qos'],
      buckets: [...LATENCY_BUCKETS_MS], registers: [this.registry],
    })
    this.tokens = new Counter({ name: 'iicp_tokens_used_total', help: 'Tokens reported by backends', labelNames: ['intent'], registers: [this.registry] })
    new Gauge({ name: 'iicp_peers_active', help: 'Peers in the peer cache', registers: [this.registry] }).set(0)
    this.heartbeatFailures = new Counter({ name: 'iicp_heartbeat_failures_total', help: 'Heartbeats that failed', labelNames: ['reason'], registers: [this.registry] })
    new Gauge({
      name: 'iicp_active_jobs', help: 'Tasks running now', registers: [this.registry],
      collect() { this.set(activeJobs()) },
    })
  }

  private bind(intent: string, qos: string): Bound {
    const key = `${intent}\u0000${qos}`
    let b = this.bound.get(key)
    if (b === undefined) {
      b = {
        success: this.tasks.labels({ status: 'success', intent, qos }),
        error: this.tasks.labels({ status: 'error', intent, qos }),
        timeout: this.tasks.labels({ status: 'timeout', intent, qos }),
        rejected: this.tasks.labels({ status: 'rejected', intent, qos }),
        latency: this.latency.labels({ intent, qos }),
      }
      // Intents come from the node's own capability list, so this map stays small.
      this.bound.set(key, b)
    }
    return b
  }

  /** Record one finished task. */
  task(intent: string, qos: string, outcome: TaskOutcome, latencyMs: number, tokensUsed: number | undefined): void {
    const b = this.bind(intent, qos)
    b[outcome].inc()
    if (outcome === 'rejected') return
    b.latency.observe(latencyMs)
    if (tokensUsed !== undefined && tokensUsed > 0) this.tokens.inc({ intent }, tokensUsed)
    if (outcome === 'success') this.pendingSuccess++
    else this.pendingFailed++
    this.pendingLatencySum += latencyMs
  }

  /** Count a failed heartbeat by reason (`unreachable`, `unauthorized`, `rejected`). */
  heartbeatFailure(reason: string): void {
    this.heartbeatFailures.inc({ reason })
  }

  /**
   * Take the tasks counted since the last call, capped at the directory's 1000-per-beat limit;
   * undefined when nothing happened (the batch is only sent when tasks happened).
   */
  takeDelta(): HeartbeatDelta | undefined {
    const n = this.pendingSuccess + this.pendingFailed
    if (n === 0) return undefined
    const delta = {
      tasks_success: Math.min(this.pendingSuccess, 1000),
      tasks_failed: Math.min(this.pendingFailed, 1000),
      avg_latency_ms: Math.round((this.pendingLatencySum / n) * 100) / 100,
    }
    this.pendingSuccess = 0
    this.pendingFailed = 0
    this.pendingLatencySum = 0
    return delta
  }

  /** Prometheus text exposition and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
