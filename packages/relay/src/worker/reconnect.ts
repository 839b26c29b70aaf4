/** Reconnect pacing for relay workers: exponential backoff with full jitter (official-sdks.md §5.2 pacing, jittered). */

/** Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(maxMs, baseMs·2^attempt)). */
export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}
