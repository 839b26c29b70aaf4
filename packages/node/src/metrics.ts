/**
 * Node metrics (wire.md §2.6; dir §3.8): the spec's Prometheus names served through prom-client, one
 * registry per node, plus the delta counters the heartbeat reports (`metrics`, wire.md §1.3).
 * The task path only bumps plain numbers in a per-(intent, qos) cell; prom-client reads the cells when
 * `/metrics` is scraped, because its own label-bound inc/observe cost more than the rest of a task.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Bucket bounds of `iicp_task_latency_ms` named by the spec (dir §3.8). */
export const LATENCY_BUCKETS_MS: readonly number[] = [10, 50, 100, 250, 500, 1000, 2500, 5000, 30000]

/** Task outcome label values of `iicp_tasks_total`. */
export type TaskOutcome = 'success' | 'error' | 'timeout' | 'rejected'
const OUTCOMES: readonly TaskOutcome[] = ['success', 'error', 'timeout', 'rejected']

/** Heartbeat metrics batch: deltas since the last batch the directory acknowledged. */
export type HeartbeatDelta = {
  readonly tasks_success: number
  readonly tasks_failed: number
  readonly avg_latency_ms: number
}

/** Counts for one (intent, qos) pair. */
interface Cell {
  readonly intent: string
  readonly qos: string
  readonly outcomes: Record<TaskOutcome, number>
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets: Float64Array
  sum: number
  count: number
  tokens: number
}

type Labels = Record<string, string | number>

/** A histogram whose values come from the node's cells at scrape time. */
const LATENCY_CONFIG = { name: 'iicp_task_latency_ms', help: 'Task latency in milliseconds', labelNames: ['intent', 'qos'] as const, buckets: [...LATENCY_BUCKETS_MS] }

class CellHistogram extends Histogram<'intent' | 'qos'> {
  /** An unregistered twin that only supplies the metadata (name, help, type) of the rendered object. */
  private readonly shape = new Histogram({ ...LATENCY_CONFIG, labelNames: [...LATENCY_CONFIG.labelNames], registers: [] })

  constructor(registry: Registry, private readonly cells: () => Iterable<Cell>) {
    super({ ...LATENCY_CONFIG, labelNames: [...LATENCY_CONFIG.labelNames], registers: [registry] })
  }

  override async get(): ReturnType<Histogram<'intent' | 'qos'>['get']> {
    return this.getForPromString()
  }

  /** What prom-client's registry reads when it renders text (it prefers this over get()). */
  async getForPromString(): ReturnType<Histogram<'intent' | 'qos'>['get']> {
    const base = await this.shape.get()
    const values: Array<{ value: number; labels: Labels; metricName: string }> = []
    for (const c of this.cells()) {
      if (c.count === 0) continue
      let cumulative = 0
      for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
        cumulative += c.buckets[i] as number
        values.push({ metricName: 'iicp_task_latency_ms_bucket', labels: { le: LATENCY_BUCKETS_MS[i] as number, intent: c.intent, qos: c.qos }, value: cumulative })
      }
      values.push({ metricName: 'iicp_task_latency_ms_bucket', labels: { le: '+Inf', intent: c.intent, qos: c.qos }, value: c.count })
      values.push({ metricName: 'iicp_task_latency_ms_sum', labels: { intent: c.intent, qos: c.qos }, value: c.sum })
      values.push({ metricName: 'iicp_task_latency_ms_count', labels: { intent: c.intent, qos: c.qos }, value: c.count })
    }
    return { ...base, values }
  }
}

/** Per-node metrics: Prometheus exposition and heartbeat deltas. */
export class NodeMetrics {
  /** The node's own registry (never the global one, so two nodes in one process stay apart). */
  readonly registry = new Registry()
  private readonly heartbeatFailures: Counter<'reason'>
  private readonly cells = new Map<string, Map<string, Cell>>()
  private pendingSuccess = 0
  private pendingFailed = 0
  private pendingLatencySum = 0

  constructor(activeJobs: () => number) {
    const cells = (): Iterable<Cell> => this.allCells()
    new Counter({
      name: 'iicp_tasks_total', help: 'Tasks handled, by outcome', labelNames: ['status', 'intent', 'qos'], registers: [this.registry],
      collect() {
        this.reset()
        for (const c of cells()) for (const o of OUTCOMES) if (c.outcomes[o] > 0) this.inc({ status: o, intent: c.intent, qos: c.qos }, c.outcomes[o])
      },
    })
    new CellHistogram(this.registry, cells)
    new Counter({
      name: 'iicp_tokens_used_total', help: 'Tokens reported by backends', labelNames: ['intent'], registers: [this.registry],
      collect() {
        this.reset()
        for (const c of cells()) if (c.tokens > 0) this.inc({ intent: c.intent }, c.tokens)
      },
    })
    new Gauge({ name: 'iicp_peers_active', help: 'Peers in the peer cache', registers: [this.registry] }).set(0)
    this.heartbeatFailures = new Counter({ name: 'iicp_heartbeat_failures_total', help: 'Heartbeats that failed', labelNames: ['reason'], registers: [this.registry] })
    new Gauge({
      name: 'iicp_active_jobs', help: 'Tasks running now', registers: [this.registry],
      collect() { this.set(activeJobs()) },
    })
  }

  private *allCells(): Iterable<Cell> {
    for (const byQos of this.cells.values()) yield* byQos.values()
  }

  private cell(intent: string, qos: string): Cell {
    let byQos = this.cells.get(intent)
    if (byQos === undefined) {
      byQos = new Map()
      this.cells.set(intent, byQos)
    }
    let c = byQos.get(qos)
    if (c === undefined) {
      c = { intent, qos, outcomes: { success: 0, error: 0, timeout: 0, rejected: 0 }, buckets: new Float64Array(LATENCY_BUCKETS_MS.length + 1), sum: 0, count: 0, tokens: 0 }
      // Intents come from the node's own capability list and qos from a closed enum, so this stays small.
      byQos.set(qos, c)
    }
    return c
  }

  /** Record one finished task. */
  task(intent: string, qos: string, outcome: TaskOutcome, latencyMs: number, tokensUsed: number | undefined): void {
    const c = this.cell(intent, qos)
    c.outcomes[outcome]++
    if (outcome === 'rejected') return
    let i = 0
    while (i < LATENCY_BUCKETS_MS.length && latencyMs > (LATENCY_BUCKETS_MS[i] as number)) i++
    c.buckets[i] = (c.buckets[i] as number) + 1
    c.sum += latencyMs
    c.count++
    if (tokensUsed !== undefined && tokensUsed > 0) c.tokens += tokensUsed
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
