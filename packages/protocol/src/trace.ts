/** W3C traceparent (wire.md §5, SDK-06). CONTRACT STUB: implemented by the protocol-core helper. */
export interface TraceContext {
  readonly traceId: string
  readonly spanId: string
  readonly flags: number
}
/** Parse `00-<32hex>-<16hex>-<2hex>`; undefined when malformed or an id is all zeros. */
export function parseTraceparent(header: string | undefined | null): TraceContext | undefined {
  void header
  return undefined
}
export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags.toString(16).padStart(2, '0')}`
}
/** A fresh sampled context with random ids. */
export function newTraceContext(): TraceContext {
  throw new Error('not implemented')
}
/** Same trace id, fresh span id. */
export function childSpan(ctx: TraceContext): TraceContext {
  void ctx
  throw new Error('not implemented')
}
