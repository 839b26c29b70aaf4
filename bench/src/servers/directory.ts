/** Candidate: the in-repo directory with N seeded nodes (argv[2]); prints its URL and one node's credentials. */
import { seedNodes, startDirectory } from '@iicp/directory'

const count = Number(process.argv[2] ?? '100')
const dir = await startDirectory({ port: 0, host: '127.0.0.1', mode: 'local', skipLivenessCheck: true, rateLimits: { register: false, probe: false } })
let seed = 1
// Keep only the first node's credentials: the other 9 999 tokens belong to the benchmark, not the directory.
const first = seedNodes(dir.directory, count, { random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) })[0]
process.stdout.write(JSON.stringify({ url: dir.url, apiUrl: dir.apiUrl, nodeId: first?.node_id, token: first?.node_token }) + '\n')
process.on('SIGTERM', () => void dir.close().then(() => process.exit(0)))
