/**
 * Container detection (official-sdks §4.2 step 5): inside a Docker or Kubernetes bridge network an
 * SSDP search finds at best the container runtime's NAT, so UPnP is skipped and the operator is asked
 * for IICP_PUBLIC_ENDPOINT. A file sign alone is not enough: a container sharing the host's network
 * (`docker run --network host`, common for home nodes that want UPnP) or a network namespace made
 * inside a container sees the real LAN, where UPnP works. So /.dockerenv and the cgroup name count only
 * when the default route leaves from a container runtime's bridge range, as the Python SDK's check
 * does with 172.16.0.0/12. KUBERNETES_SERVICE_HOST still counts on its own.
 */
import { access, readFile } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import type { ReachabilityEnv } from './env.js'
import { defaultGatewayIpv4, localAddressToward } from './local-route.js'

/** Where the default container check looks; tests point it at their own files and route. */
export interface ContainerProbe {
  env?: ReachabilityEnv
  dockerenvPath?: string
  cgroupPath?: string
  /**
   * The local IPv4 address the default route leaves from, or undefined without a default route.
   * @default the IPv4 default gateway from /proc/net/route, then the local address toward it (sends nothing)
   */
  defaultRouteAddress?: () => Promise<string | undefined>
}

/**
 * Default address ranges of container runtimes' own NATed networks: Docker's bridge and address pools
 * (172.16.0.0/12), Podman's default network (10.88.0.0/16), slirp4netns for rootless containers
 * (10.0.2.0/24) and LXC's lxcbr0 (10.0.3.0/24). A home LAN is rarely in them.
 */
const CONTAINER_BRIDGES: ReadonlyArray<readonly [base: number, prefix: number]> = [
  [ipv4ToInt('172.16.0.0'), 12],
  [ipv4ToInt('10.88.0.0'), 16],
  [ipv4ToInt('10.0.2.0'), 24],
  [ipv4ToInt('10.0.3.0'), 24],
]

/** Why we think we run in a container's own NATed network, or undefined when nothing says so. */
export async function detectContainer(probe: ContainerProbe = {}): Promise<string | undefined> {
  if (probe.env?.KUBERNETES_SERVICE_HOST) return 'KUBERNETES_SERVICE_HOST is set (Kubernetes pod network)'
  const sign = await runtimeSign(probe)
  if (sign === undefined) return undefined
  const address = await (probe.defaultRouteAddress ?? defaultRouteAddress)()
  // No default route: nothing to map anyway, and the container advice is the more useful one.
  if (address === undefined) return sign
  if (!inContainerBridge(address)) return undefined
  return `${sign} and the default route leaves from ${address}, a container bridge address`
}

async function runtimeSign(probe: ContainerProbe): Promise<string | undefined> {
  const dockerenv = probe.dockerenvPath ?? '/.dockerenv'
  try {
    await access(dockerenv)
    return `${dockerenv} exists (Docker)`
  } catch {
    // Absent: not a Docker container by this sign; the cgroup check below may still tell.
  }
  const cgroupPath = probe.cgroupPath ?? '/proc/1/cgroup'
  try {
    const cgroup = await readFile(cgroupPath, 'utf8')
    const hit = /\b(docker|kubepods|containerd|libpod|lxc)\b/.exec(cgroup)
    if (hit) return `${cgroupPath} names ${hit[1]}`
  } catch {
    // No procfs (not Linux): nothing more to learn.
  }
  return undefined
}

async function defaultRouteAddress(): Promise<string | undefined> {
  const gateway = await defaultGatewayIpv4()
  if (gateway === undefined) return undefined
  try {
    return await localAddressToward(gateway)
  } catch {
    return undefined
  }
}

function inContainerBridge(address: string): boolean {
  if (!isIPv4(address)) return false
  const n = ipv4ToInt(address)
  return CONTAINER_BRIDGES.some(([base, prefix]) => n >>> (32 - prefix) === base >>> (32 - prefix))
}

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0)
}
