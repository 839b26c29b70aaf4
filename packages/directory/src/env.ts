/** `IICP_*` environment variables → directory options. Constructors never read process.env themselves. */
import { IicpError } from '@iicp/protocol'
import type { DirectoryOptions } from './options.js'

function flag(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined
  const v = value.trim().toLowerCase()
  if (v === 'true' || v === '1' || v === 'yes' || v === 'on') return true
  if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false
  throw new IicpError('invalid_config', `Invalid ${name}: expected true or false`)
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  if (!/^\d+$/.test(value.trim())) throw new IicpError('invalid_config', `Invalid ${name}: expected a non-negative integer`)
  return Number(value.trim())
}

/**
 * Options from the environment: IICP_DIRECTORY_PORT, IICP_DIRECTORY_HOST, IICP_DIRECTORY_MODE (local|public),
 * IICP_DIRECTORY_PUBLIC_ORIGIN, IICP_DIRECTORY_DATA_FILE, IICP_SKIP_LIVENESS_CHECK (as the reference
 * directory allows), IICP_DIRECTORY_PROBATION, IICP_DIRECTORY_TRUST_PROXY, IICP_DIRECTORY_PROBE_HOSTS
 * (loopback|private|any: which endpoint addresses the liveness probe may contact). Unset variables are left out,
 * so the result can be spread under explicit options. Values are checked again by parseDirectoryOptions.
 */
export function directoryOptionsFromEnv(env: Record<string, string | undefined>): DirectoryOptions {
  const out: DirectoryOptions = {}
  const port = integer('IICP_DIRECTORY_PORT', env.IICP_DIRECTORY_PORT)
  if (port !== undefined) out.port = port
  if (env.IICP_DIRECTORY_HOST) out.host = env.IICP_DIRECTORY_HOST
  const mode = env.IICP_DIRECTORY_MODE
  if (mode) {
    if (mode !== 'local' && mode !== 'public') throw new IicpError('invalid_config', 'Invalid IICP_DIRECTORY_MODE: expected local or public')
    out.mode = mode
  }
  if (env.IICP_DIRECTORY_PUBLIC_ORIGIN) out.publicOrigin = env.IICP_DIRECTORY_PUBLIC_ORIGIN
  if (env.IICP_DIRECTORY_DATA_FILE) out.dataFile = env.IICP_DIRECTORY_DATA_FILE
  const skip = flag('IICP_SKIP_LIVENESS_CHECK', env.IICP_SKIP_LIVENESS_CHECK)
  if (skip !== undefined) out.skipLivenessCheck = skip
  const probation = flag('IICP_DIRECTORY_PROBATION', env.IICP_DIRECTORY_PROBATION)
  if (probation !== undefined) out.probation = probation
  const scope = env.IICP_DIRECTORY_PROBE_HOSTS?.trim()
  if (scope) {
    if (scope !== 'loopback' && scope !== 'private' && scope !== 'any') {
      throw new IicpError('invalid_config', 'Invalid IICP_DIRECTORY_PROBE_HOSTS: expected loopback, private or any')
    }
    out.probeHosts = scope
  }
  const trust = flag('IICP_DIRECTORY_TRUST_PROXY', env.IICP_DIRECTORY_TRUST_PROXY)
  if (trust !== undefined) out.trustProxy = trust
  return out
}
