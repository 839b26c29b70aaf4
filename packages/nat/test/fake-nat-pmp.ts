/**
 * A small real NAT-PMP gateway (RFC 6886) on a loopback UDP port for unit tests: answers external
 * address and map requests, records every request, and can refuse with a result code or stay silent.
 */
import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'

export interface NatPmpRequestRecord {
  op: number
  internalPort?: number
  externalPort?: number
  lifetime?: number
}

export class FakeNatPmp {
  readonly requests: NatPmpRequestRecord[] = []
  readonly mappings = new Map<string, { externalPort: number; lifetime: number }>()
  /** Result code for the next answers (0 = success). */
  resultCode = 0
  /** Drop this many requests before answering (to exercise retransmission). */
  dropNext = 0
  /** Never answer. */
  silent = false
  /** Called with each map request before it is answered; resolve to let the answer go out. */
  beforeMapAnswer: (() => Promise<void>) | undefined
  /** Cap granted lifetimes, as a gateway may (RFC 6886 §3.3). */
  maxLifetime = 7200
  externalIp = [11, 22, 33, 44]
  port = 0
  private socket: Socket | undefined

  async start(): Promise<this> {
    const s = createSocket('udp4')
    this.socket = s
    s.on('message', (msg, rinfo) => {
      if (msg.length < 2 || msg[0] !== 0) return
      const op = msg[1] ?? 0
      const record: NatPmpRequestRecord = { op }
      if (op === 1 || op === 2) {
        record.internalPort = msg.readUInt16BE(4)
        record.externalPort = msg.readUInt16BE(6)
        record.lifetime = msg.readUInt32BE(8)
      }
      this.requests.push(record)
      if (this.silent) return
      if (this.dropNext > 0) {
        this.dropNext--
        return
      }
      const epoch = 1000
      if (op === 0) {
        const out = Buffer.alloc(12)
        out[1] = 128
        out.writeUInt16BE(this.resultCode, 2)
        out.writeUInt32BE(epoch, 4)
        Buffer.from(this.externalIp).copy(out, 8)
        s.send(out, rinfo.port, rinfo.address)
        return
      }
      if (op === 1 || op === 2) {
        const gate = this.beforeMapAnswer
        this.beforeMapAnswer = undefined
        if (gate) {
          void gate().then(() => this.answerMap(s, record, op, epoch, rinfo.port, rinfo.address))
          return
        }
        this.answerMap(s, record, op, epoch, rinfo.port, rinfo.address)
      }
    })
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    this.port = s.address().port
    return this
  }

  private answerMap(s: Socket, record: NatPmpRequestRecord, op: number, epoch: number, port: number, address: string): void {
    const key = `${op}:${record.internalPort}`
    let external = 0
    let lifetime = 0
    if (this.resultCode === 0) {
      if (record.lifetime === 0) {
        this.mappings.delete(key)
      } else {
        external = record.externalPort || 40000 + (record.internalPort ?? 0) % 1000
        lifetime = Math.min(record.lifetime ?? 0, this.maxLifetime)
        this.mappings.set(key, { externalPort: external, lifetime })
      }
    }
    const out = Buffer.alloc(16)
    out[1] = 128 + op
    out.writeUInt16BE(this.resultCode, 2)
    out.writeUInt32BE(epoch, 4)
    out.writeUInt16BE(record.internalPort ?? 0, 8)
    out.writeUInt16BE(external, 10)
    out.writeUInt32BE(lifetime, 12)
    s.send(out, port, address)
  }

  async close(): Promise<void> {
    const s = this.socket
    this.socket = undefined
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}
