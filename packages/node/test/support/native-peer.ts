/** A raw native IICP peer over a real TCP socket, for driving a node's port frame by frame in tests. */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { FrameDecoder, decodeNativeMessage, encodeNativeMessage } from '@iicp/protocol'
import type { Frame, NativeMessage } from '@iicp/protocol'

export interface NativePeer {
  readonly socket: Socket
  /** Send a typed message or raw bytes. */
  send(message: NativeMessage | Uint8Array): void
  /** The next frame the node sent (raw, in order). */
  nextFrame(): Promise<Frame>
  /** The next frame, decoded (throws on a frame our codec refuses). */
  next(): Promise<NativeMessage>
  /** Resolves when the node closed the connection. */
  readonly ended: Promise<void>
  close(): void
}

export async function nativePeer(port: number, host = '127.0.0.1'): Promise<NativePeer> {
  const socket = connect({ port, host, noDelay: true })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const decoder = new FrameDecoder()
  const frames: Frame[] = []
  const waiters: Array<(f: Frame | undefined) => void> = []
  let done = false
  const ended = new Promise<void>((resolve) => socket.once('close', () => {
    done = true
    for (const w of waiters.splice(0)) w(undefined)
    resolve()
  }))
  socket.on('error', () => undefined)
  socket.on('data', (chunk: Buffer) => {
    const { frames: got } = decoder.push(chunk)
    for (const f of got) {
      // Copy: the decoder may hand out views into the socket's buffer.
      const copy = { ...f, payload: Uint8Array.from(f.payload) }
      const w = waiters.shift()
      if (w) w(copy)
      else frames.push(copy)
    }
  })
  const nextFrame = (): Promise<Frame> => {
    const f = frames.shift()
    if (f) return Promise.resolve(f)
    if (done) return Promise.reject(new Error('connection closed'))
    return new Promise<Frame>((resolve, reject) => waiters.push((x) => (x ? resolve(x) : reject(new Error('connection closed')))))
  }
  return {
    socket,
    send(message) {
      socket.write(message instanceof Uint8Array ? message : encodeNativeMessage(message))
    },
    nextFrame,
    async next() {
      const f = await nextFrame()
      const m = decodeNativeMessage(f)
      if (!m.ok) throw new Error(`undecodable frame: ${m.error.code}`)
      return m.message
    },
    ended,
    close() {
      socket.destroy()
    },
  }
}
