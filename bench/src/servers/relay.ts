/** A standalone relay (unsigned binds allowed: the benchmark measures forwarding, not ticket checks). */
import { startRelayServer } from '@iicp/relay'

const relay = await startRelayServer({ port: 0, host: '127.0.0.1', allowUnsignedBinds: true, bindRateLimit: { max: 1000, windowMs: 60_000 } })
process.stdout.write(JSON.stringify({ url: relay.url }) + '\n')
process.on('SIGTERM', () => void relay.close().then(() => process.exit(0)))
