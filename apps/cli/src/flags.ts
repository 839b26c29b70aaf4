/**
 * Argument parsers and the option sets commands share (issue 6). Parsers throw commander's
 * InvalidArgumentError, so a bad value is a usage error (exit 2) naming the flag, before any network I/O.
 */
import { InvalidArgumentError, Option } from 'commander'
import type { Command } from 'commander'
import { ENV } from './env.js'

/** The public directory every consumer command uses unless told otherwise (wire.md §0.1). */
export const PUBLIC_DIRECTORY_URL = 'https://iicp.network/api'
/** Port of `iicp directory serve` and of the mesh's embedded directory when free (frm §11.1 local band). */
export const DIRECTORY_PORT = 9480
/** Port of `iicp proxy` (wire.md §6.5 local client band). */
export const PROXY_PORT = 9483
/** First port a node tries; it moves up through the band when taken (frm §11.1). */
export const NODE_BASE_PORT = 9484

const QOS_VALUES = ['realtime', 'interactive', 'batch', 'best-effort'] as const
/** Quality-of-service classes a consumer may ask for (wire.md §1.5). */
export type QosFlag = (typeof QOS_VALUES)[number]

/** A TCP port, 0 for "any free port". */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value.trim()) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535')
  return Number(value)
}

/** An integer parser with a range, for flags such as `--max-concurrent`. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`)
    }
    return Number(value)
  }
}

/** A duration: `1500`, `1500ms`, `30s` or `2m`, as milliseconds in 1..120000 (the client's cap, SDK-04). */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim())
  if (!m) throw new InvalidArgumentError('expected a duration such as 5000, 5000ms, 5s or 1m')
  const scale = m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1
  const ms = Math.round(Number(m[1]) * scale)
  if (ms < 1 || ms > 120_000) throw new InvalidArgumentError('expected a duration from 1ms to 120s')
  return ms
}

/** An http(s) URL. */
export function parseHttpUrl(value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) throw new InvalidArgumentError('expected an http(s) URL')
  return value
}

/** `--json` on a command. */
export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print only JSON on stdout (errors too)')
}

/** The flags every consumer command takes: where the directory is and how to route. */
export function consumerOptions(cmd: Command, { model = true }: { model?: boolean } = {}): Command {
  cmd.addOption(new Option('-d, --directory <url>', 'directory API base').env(ENV.directory).default(PUBLIC_DIRECTORY_URL).argParser(parseHttpUrl))
  if (model) cmd.addOption(new Option('-m, --model <name>', 'only nodes serving this model').env(ENV.model))
  cmd.addOption(new Option('-r, --region <region>', 'preferred region').env(ENV.region))
  cmd.addOption(new Option('--qos <class>', 'quality-of-service class').env(ENV.qos).choices(QOS_VALUES))
  cmd.addOption(new Option('-t, --timeout <duration>', 'one deadline for discovery and every attempt (e.g. 5s)').env(ENV.timeout).argParser(parseDuration))
  cmd.option('--allow-private-endpoints', `accept nodes on loopback/private addresses; implied when the directory is on loopback (env: ${ENV.allowPrivateEndpoints})`)
  return jsonOption(cmd)
}

/** Parsed consumer flags. */
export interface ConsumerFlags {
  directory: string
  model?: string
  region?: string
  qos?: QosFlag
  timeout?: number
  allowPrivateEndpoints?: boolean
  json?: boolean
}
