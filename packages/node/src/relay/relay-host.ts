/**
 * The relay server half inside a node (IICP-DIR §7.1–§7.5; official-sdks.md §5.1): a relay-capable node
 * mounts @iicp/relay's server on its own HTTP port, relay paths first and the node's routes after, and
 * takes WebSocket upgrades on the same port. Bind tickets are checked against the node's directory.
 */
import type { IncomingMessage, RequestListener, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRelayServer } from '@iicp/relay'
import type { RelayServer, RelayServerOptions } from '@iicp/relay'
import type { Logger } from '@iicp/protocol'

/** Relay server tuning a node passes through (everything but what the node itself decides). */
export type RelayHostOptions = Omit<RelayServerOptions, 'nodeId' | 'directoryUrl' | 'logger'>

/** A relay server mounted on a node's HTTP server. */
export interface RelayHost {
  readonly relay: RelayServer
  /** A request listener that serves relay paths and hands everything else to `next`. */
  front(next: RequestListener): RequestListener
  /** Attach the WebSocket upgrade handler to `server` (once). */
  attach(server: Server): void
  /** Drop every relay session and socket. Idempotent. */
  close(): Promise<void>
}

/**
 * Create the relay half of a relay-capable node. `nodeId` is the ticket audience (IICP-DIR §7.4); the
 * directory's key verifies tickets unless `allowUnsignedBinds` says otherwise.
 */
export function createRelayHost(o: { nodeId: string; directoryUrl: string | null; logger: Logger; options: RelayHostOptions }): RelayHost {
  const relay = createRelayServer({
    ...o.options,
    nodeId: o.nodeId,
    ...(o.directoryUrl !== null ? { directoryUrl: o.directoryUrl } : {}),
    logger: o.logger,
  })
  const attached = new WeakSet<Server>()
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The node has no other upgrade route; anything else is refused at once rather than left hanging.
    if (!relay.handleUpgrade(req, socket, head)) socket.destroy()
  }
  return {
    relay,
    front(next) {
      return (req, res) => {
        if (!relay.handleRequest(req, res)) next(req, res)
      }
    },
    attach(server) {
      if (attached.has(server)) return
      attached.add(server)
      server.on('upgrade', onUpgrade)
    },
    close: () => relay.close(),
  }
}
