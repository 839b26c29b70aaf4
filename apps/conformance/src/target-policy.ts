/**
 * Which targets the runner may contact: http(s) URLs without credentials, on loopback unless the caller
 * passes allowRemote (`--allow-remote`). Errors name the option, never the URL (output stays content-free).
 */
import { IicpError, classifyHost } from '@iicp/protocol'

/** A target URL after the policy check. */
export interface CheckedTarget {
  /** Without a trailing slash. */
  readonly url: string
  readonly loopback: boolean
}

/** Whether a host name or address is loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || classifyHost(h) === 'loopback'
}

/** Validate one target URL for `option` (e.g. `--directory`). Throws IicpError `invalid_config`. */
export function checkTarget(option: string, raw: string, allowRemote: boolean): CheckedTarget {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new IicpError('invalid_config', `${option} must be an http(s) URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new IicpError('invalid_config', `${option} must be an http(s) URL`)
  if (url.username !== '' || url.password !== '') throw new IicpError('invalid_config', `${option} must not carry credentials`)
  if (url.search !== '' || url.hash !== '') throw new IicpError('invalid_config', `${option} must not carry a query or fragment`)
  const loopback = isLoopbackHost(url.hostname)
  if (!loopback && !allowRemote) throw new IicpError('invalid_config', `${option} is not a loopback address; pass --allow-remote to check remote targets`)
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, loopback }
}

/** A directory URL given as origin or as its `/api` base becomes the origin the spec's `/api/v1` paths join. */
export function directoryOriginOf(target: CheckedTarget): string {
  return target.url.replace(/\/api$/, '')
}
