// Public API of @iicp/cli: every export is listed here by name; types separately.
export { main } from './program.js'
export { startLocalMesh } from './local-mesh.js'
export { startProxy } from './proxy/server.js'
export { EXIT_OK, EXIT_FAILURE, EXIT_USAGE } from './exit.js'

export type { LocalMesh, LocalMeshOptions } from './local-mesh.js'
export type { ProxyOptions, ProxyRequestLog, RunningProxy } from './proxy/server.js'
export type { CliIo } from './output.js'
