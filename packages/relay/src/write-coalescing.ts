/**
 * Write coalescing for the relay's framed links (WebSocket and native TCP, both directions): frames written in
 * one turn of the event loop (calls for several consumers, results that finished together) leave in one
 * syscall. On loopback and LAN paths a write costs far more than encoding a frame, so this is where a relay hop's
 * throughput goes.
 */
import type { Writable } from 'node:stream'

/**
 * Returns a function to call before each write: the first write of a turn corks `socket`, and the check phase of
 * the same loop iteration uncorks it. `end()` flushes a corked socket; `destroy()` drops what it holds.
 */
export function coalesceWrites(socket: Writable): () => void {
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  return () => {
    if (corked) return
    corked = true
    socket.cork()
    setImmediate(uncork)
  }
}
