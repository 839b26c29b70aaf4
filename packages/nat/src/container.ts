/**
 * Container detection (official-sdks §4.2 step 5): inside a Docker or Kubernetes bridge network an
 * SSDP search finds at best the container runtime's NAT, so UPnP is skipped and the operator is asked
 * for IICP_PUBLIC_ENDPOINT.
 */
import { access, readFile } from 'node:fs/promises'
import type { ReachabilityEnv } from './env.js'

/** Where the default container check looks; tests point it at their own files. */
export interface ContainerProbe {
  env?: ReachabilityEnv
  dockerenvPath?: string
  cgroupPath?: string
}

/** Why we think we run in a container, or undefined when nothing says so. */
export async function detectContainer(probe: ContainerProbe = {}): Promise<string | undefined> {
  if (probe.env?.KUBERNETES_SERVICE_HOST) return 'KUBERNETES_SERVICE_HOST is set (Kubernetes pod network)'
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
