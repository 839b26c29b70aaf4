/**
 * "A newer @iicp/cli exists" (issue 12, Updates): a notice, never an update. The library never updates
 * itself and neither does the CLI; it only says so on stderr, once a day at most, and never when the output
 * is `--json`, not a terminal, in CI or under `NODE_ENV=test`, or with `IICP_NO_UPDATE_NOTICE=1` or the official
 * SDKs' `IICP_AUTO_UPDATE=0` (which turns their self-updater off; the notice is the nearest thing this CLI has).
 *
 * It never blocks: the notice printed after a command comes from the daily cache written by an earlier
 * run; a refresh runs in the background (`GET <registry>/-/package/@iicp%2fcli/dist-tags`, 1.5 s at most,
 * on an unref'd socket) so a short command never waits for the registry.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** The package the notice is about. */
export const PACKAGE_NAME = '@iicp/cli'
/** How long a registry answer is trusted. */
export const CHECK_INTERVAL_MS = 24 * 60 * 60 * 1000
const FETCH_TIMEOUT_MS = 1500
const DEFAULT_REGISTRY = 'https://registry.npmjs.org'

/** The daily cache under IICP_HOME. */
interface Cache {
  checked_at_ms: number
  latest: string | null
}

/** Compare dotted versions: >0 when `a` is newer. A prerelease sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): { nums: number[]; pre: string } => {
    const [core = '', pre = ''] = v.trim().replace(/^v/, '').split('-', 2)
    return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre }
  }
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0)
    if (d !== 0) return d
  }
  if (x.pre === y.pre) return 0
  if (x.pre === '') return 1
  if (y.pre === '') return -1
  return x.pre < y.pre ? -1 : 1
}

/** Whether the notice may run at all for this invocation. */
export function noticeEnabled(env: Readonly<Record<string, string | undefined>>, json: boolean, stderrIsTty: boolean): boolean {
  if (json || !stderrIsTty) return false
  const off = env.IICP_NO_UPDATE_NOTICE?.trim().toLowerCase()
  if (off !== undefined && off !== '' && off !== '0' && off !== 'false' && off !== 'no' && off !== 'off') return false
  const auto = env.IICP_AUTO_UPDATE?.trim().toLowerCase()
  if (auto === '0' || auto === 'false' || auto === 'no' || auto === 'off') return false
  if (env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI !== 'false') return false
  return env.NODE_ENV !== 'test'
}

/** The registry to ask: IICP_UPDATE_REGISTRY, else npm's configured one, else the public registry. https only, http on loopback. */
export function registryUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const raw = (env.IICP_UPDATE_REGISTRY ?? env.npm_config_registry ?? DEFAULT_REGISTRY).trim().replace(/\/+$/, '')
  if (!URL.canParse(raw)) return undefined
  const u = new URL(raw)
  if (u.protocol === 'https:') return raw
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]' || u.hostname === 'localhost') ? raw : undefined
}

/** Ask the registry for the `latest` dist-tag; undefined on any failure. */
export function fetchLatest(registry: string, timeoutMs: number = FETCH_TIMEOUT_MS): Promise<string | undefined> {
  const url = new URL(`${registry}/-/package/${PACKAGE_NAME.replace('/', '%2f')}/dist-tags`)
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const req = send(url, { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => {
        body += s
        if (body.length > 64 * 1024) req.destroy()
      })
      res.on('end', () => {
        try {
          const latest = (JSON.parse(body) as { latest?: unknown }).latest
          resolve(res.statusCode === 200 && typeof latest === 'string' && /^\d+\.\d+\.\d+/.test(latest) ? latest : undefined)
        } catch {
          resolve(undefined)
        }
      })
      res.on('error', () => resolve(undefined))
    })
    // A CLI run must never wait for the registry to exit.
    req.on('socket', (s) => s.unref())
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

async function readCache(file: string): Promise<Cache | undefined> {
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as Partial<Cache>
    return typeof c.checked_at_ms === 'number' ? { checked_at_ms: c.checked_at_ms, latest: typeof c.latest === 'string' ? c.latest : null } : undefined
  } catch {
    return undefined
  }
}

async function writeCache(file: string, cache: Cache): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(cache) + '\n', { mode: 0o600 })
  await rename(tmp, file)
}

/** A started check. */
export interface UpdateNotice {
  /** The line to print (from the cache an earlier run wrote), or undefined. */
  message(): string | undefined
  /** Resolves once the local cache has been read (a file read; never the network). */
  readonly ready: Promise<void>
  /** Resolves when the background refresh (if any) is done; for tests and long-running commands. */
  readonly settled: Promise<void>
}

/** Start the check for the running `current` version. */
export function startUpdateNotice(a: {
  env: Readonly<Record<string, string | undefined>>
  current: string
  json: boolean
  stderrIsTty: boolean
  now?: () => number
}): UpdateNotice {
  const none: UpdateNotice = { message: () => undefined, ready: Promise.resolve(), settled: Promise.resolve() }
  if (!noticeEnabled(a.env, a.json, a.stderrIsTty)) return none
  const registry = registryUrl(a.env)
  if (registry === undefined) return none
  const now = a.now ?? Date.now
  const file = join(a.env.IICP_HOME ?? join(homedir(), '.iicp'), 'update-check.json')
  let known: string | null = null
  const cached = readCache(file).then((cache) => {
    known = cache?.latest ?? null
    return cache
  })
  const settled = (async () => {
    const cache = await cached
    if (cache !== undefined && now() - cache.checked_at_ms < CHECK_INTERVAL_MS) return
    const latest = await fetchLatest(registry)
    // A failed lookup is cached too, so an offline machine asks once a day, not on every run.
    await writeCache(file, { checked_at_ms: now(), latest: latest ?? cache?.latest ?? null }).catch(() => undefined)
  })().catch(() => undefined)
  return {
    ready: cached.then(() => undefined),
    settled,
    message: () => known !== null && compareVersions(known, a.current) > 0
      ? `notice: ${PACKAGE_NAME} ${known} is available (you have ${a.current}); update with \`npm install -g ${PACKAGE_NAME}\`. IICP_NO_UPDATE_NOTICE=1 silences this.`
      : undefined,
  }
}
