/**
 * `IICP_*` environment variables → flags (issue 6). Value flags are wired through commander's `.env()`, so
 * the command line wins over the environment, which wins over the default, and `--help` names the variable.
 * Boolean flags are read here instead: commander treats any set variable as "on", so `IICP_X=0` would enable.
 */
import { UsageError } from './exit.js'

/** Flag → environment variable, one table for every command. */
export const ENV = Object.freeze({
  directory: 'IICP_DIRECTORY_URL',
  port: 'IICP_PORT',
  host: 'IICP_HOST',
  publicEndpoint: 'IICP_PUBLIC_ENDPOINT',
  region: 'IICP_REGION',
  backend: 'IICP_BACKEND',
  baseUrl: 'IICP_BASE_URL',
  model: 'IICP_MODEL',
  apiKey: 'IICP_API_KEY',
  maxConcurrent: 'IICP_MAX_CONCURRENT',
  nodeName: 'IICP_NODE_NAME',
  home: 'IICP_HOME',
  qos: 'IICP_QOS',
  timeout: 'IICP_TIMEOUT_MS',
  allowPrivateEndpoints: 'IICP_ALLOW_PRIVATE_ENDPOINTS',
  directoryPort: 'IICP_DIRECTORY_PORT',
  directoryHost: 'IICP_DIRECTORY_HOST',
  directoryMode: 'IICP_DIRECTORY_MODE',
  dataFile: 'IICP_DIRECTORY_DATA_FILE',
  probeHosts: 'IICP_DIRECTORY_PROBE_HOSTS',
  proxyPort: 'IICP_PROXY_PORT',
  proxyHost: 'IICP_PROXY_HOST',
  skipLivenessCheck: 'IICP_SKIP_LIVENESS_CHECK',
})

/** Boolean flags (by attribute name) that fall back to an environment variable when not given. */
export const BOOLEAN_ENV: Readonly<Record<string, string>> = Object.freeze({
  allowPrivateEndpoints: ENV.allowPrivateEndpoints,
  skipLivenessCheck: ENV.skipLivenessCheck,
})

/**
 * A boolean environment variable: 1/true/yes/on or 0/false/no/off; unset or empty is `undefined`.
 * Anything else is a usage error naming the variable.
 */
export function envFlag(env: Readonly<Record<string, string | undefined>>, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new UsageError(`environment variable ${name} must be 1/0, true/false, yes/no or on/off`)
}
