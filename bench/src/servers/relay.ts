/** A standalone relay (unsigned binds allowed: the benchmark measures forwarding, not ticket checks). */
import { startRelayServer, startTcpRelayAcceptor } from '@iicp/relay'

const relay = await startRelayServer({ port: 0, host: '127.0.0.1', allowUnsignedBinds: true, bindRateLimit: { max: 1000, windowMs: 60_000 } })
// The native TCP accept port joins the same session table, as on a relay-capable node.
const acceptor = await startTcpRelayAcceptor({ relay: relay.relay, port: 0, host: '127.0.0.1', relayHttpPort: relay.port })
process.stdout.write(JSON.stringify({ url: relay.url, tcp: `127.0.0.1:${acceptor.port}` }) + '\n')
process.on('SIGTERM', () => void acceptor.close().then(() => relay.close()).then(() => process.exit(0)))
