/**
 * SDK request projection (pre-normative sdk-request-projection profile v0; wire.md §5.3): split what a caller
 * asks for into control-plane route options (region, qos, model, min reputation, browser-usable only, limit,
 * profile request) and provider execution constraints (timeout, qos, model, max tokens). Route-only fields never
 * enter the task envelope. Precedence: explicit route options > task-level options > client config > defaults.
 */
import { DISCOVER_DEFAULT_LIMIT } from '@iicp/protocol'
import type { Qos } from '@iicp/protocol'

/** A draft capability-profile request, forwarded to discovery only. */
export interface ProfileRequest {
  readonly profileId: string
  readonly profileVersion: string
  readonly profileFixtureSha256?: string
  readonly required?: boolean
}

/** Explicit control-plane options (`route_constraints`). */
export interface RouteOptions {
  region?: string
  qos?: Qos
  model?: string
  minReputation?: number
  browserUsableOnly?: boolean
  limit?: number
  profileRequest?: ProfileRequest
}

/** Task-level options that may steer both routing and execution (the legacy `constraints` block). */
export interface TaskLevelOptions {
  timeoutMs?: number
  qos?: Qos
  model?: string
  maxTokens?: number
  region?: string
  minReputation?: number
}

/** The projected request. */
export interface ProjectedRequest {
  readonly route: {
    readonly region: string | undefined
    readonly qos: Qos | undefined
    readonly model: string | undefined
    readonly minReputation: number | undefined
    readonly browserUsableOnly: boolean
    readonly limit: number
    readonly profileRequest: ProfileRequest | undefined
  }
  readonly execution: {
    readonly timeoutMs: number
    readonly qos: Qos | undefined
    readonly model: string | undefined
    readonly maxTokens: number | undefined
  }
}

/** Project route options and execution constraints; `config` supplies the client defaults. */
export function projectRequest(
  config: { region?: string | undefined; timeoutMs: number }, task: TaskLevelOptions = {}, route: RouteOptions = {},
): ProjectedRequest {
  return {
    route: {
      region: route.region ?? task.region ?? config.region,
      qos: route.qos ?? task.qos,
      model: route.model ?? task.model,
      minReputation: route.minReputation ?? task.minReputation,
      browserUsableOnly: route.browserUsableOnly ?? false,
      limit: route.limit ?? DISCOVER_DEFAULT_LIMIT,
      profileRequest: route.profileRequest,
    },
    execution: {
      timeoutMs: task.timeoutMs ?? config.timeoutMs,
      qos: task.qos ?? route.qos,
      model: task.model ?? route.model,
      maxTokens: task.maxTokens,
    },
  }
}
