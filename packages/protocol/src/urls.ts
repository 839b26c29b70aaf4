/** Directory URL normalisation and address classes. CONTRACT STUB: protocol-core helper. */
export type HostClass = 'public' | 'loopback' | 'private' | 'link_local' | 'cgnat' | 'unspecified' | 'reserved' | 'local_name'

/** Normalise a directory base: ensure it ends in `/api` exactly once, no trailing slash. */
export function normalizeDirectoryUrl(url: string): string {
  return url
}
/** `${normalized base}${path}` where path starts with `/v1/`. Never doubles `/api`. */
export function directoryApiUrl(directoryUrl: string, path: string): string {
  return normalizeDirectoryUrl(directoryUrl) + path
}
/** The directory's origin (base without `/api`), used as the ticket issuer. */
export function directoryOrigin(directoryUrl: string): string {
  return directoryUrl
}
/** Classify a hostname or IP literal (no DNS). */
export function classifyHost(host: string): HostClass {
  void host
  return 'public'
}
export function isPrivateOrLocalHost(host: string): boolean {
  return classifyHost(host) !== 'public'
}
