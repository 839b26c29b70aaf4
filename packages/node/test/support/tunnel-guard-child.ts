/**
 * A separate process for the tunnel guard tests: waits until the given start time (so two of these
 * contend in the same instant), takes the host-wide creation slot, prints the answer as one JSON line,
 * holds the slot briefly and releases it with the given outcome ("none" exits without releasing).
 */
import { TunnelCreateGuard, tunnelGuardFiles } from '../../src/tunnel/create-guard.js'

const [home, startAt, outcome] = process.argv.slice(2) as [string, string, 'created' | 'failed' | 'rate_limited' | 'none']
const guard = new TunnelCreateGuard({ ...tunnelGuardFiles(home), minIntervalMs: 120_000, leaseMs: 45_000, cooldownMs: 900_000, now: () => Date.now() })
const wait = Number(startAt) - Date.now()
if (wait > 0) await new Promise((r) => setTimeout(r, wait))
const got = await guard.acquire()
process.stdout.write(JSON.stringify(got.ok ? { ok: true, pid: process.pid } : { ok: false, reason: got.reason }) + '\n')
if (got.ok && outcome !== 'none') {
  await new Promise((r) => setTimeout(r, 200))
  await got.release(outcome)
}
