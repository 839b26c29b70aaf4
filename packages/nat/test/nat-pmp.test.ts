/**
 * Proves the NAT-PMP client (RFC 6886) against a fake NAT-PMP gateway on loopback UDP: the external
 * address, lifetimes sent and read in seconds, deletion with lifetime 0, retransmission, refusals as
 * catalogue codes, and close() deleting what it mapped.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { natPmp } from '../src/index.js'
import type { PortMapper } from '../src/index.js'
import { FakeNatPmp } from './fake-nat-pmp.js'
import { ManualClock } from './manual-clock.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

async function setup(options: Parameters<typeof natPmp>[0] = {}): Promise<{ server: FakeNatPmp; m: PortMapper; clock: ManualClock }> {
  const server = await new FakeNatPmp().start()
  cleanups.push(() => server.close())
  const clock = new ManualClock()
  // A long first timeout: the fake answers at once, and a retransmission under load would add requests the
  // tests count. Tests about lost answers set their own.
  const m = natPmp({ gateway: '127.0.0.1', port: server.port, initialTimeoutMs: 5_000, clock, ...options })
  cleanups.push(() => m.close())
  return { server, m, clock }
}

describe('natPmp()', () => {
  it('reads the external address', async () => {
    const { m } = await setup()
    expect(await m.externalAddress()).toBe('11.22.33.44')
  })

  it('maps a TCP port asking for the lease in seconds and keeps what the gateway granted', async () => {
    const { server, m, clock } = await setup({ leaseSeconds: 3600 })
    const mapping = await m.map({ internalPort: 8080, externalPort: 18080 })
    expect(server.requests.find((r) => r.op === 2)).toEqual({ op: 2, internalPort: 8080, externalPort: 18080, lifetime: 3600 })
    expect(mapping).toMatchObject({ method: 'nat-pmp', protocol: 'TCP', internalHost: '127.0.0.1', internalPort: 8080, externalHost: '11.22.33.44', externalPort: 18080, leaseSeconds: 3600 })
    expect(mapping.expiresAt).toBe(clock.now() + 3_600_000)
  })

  it('takes a shorter lifetime when the gateway caps it', async () => {
    const { server, m } = await setup({ leaseSeconds: 86_400 })
    server.maxLifetime = 120
    const mapping = await m.map({ internalPort: 8080, protocol: 'UDP' })
    expect(server.requests.find((r) => r.op === 1)?.lifetime).toBe(86_400)
    expect(mapping.leaseSeconds).toBe(120)
  })

  it('renews with the same external port and deletes with lifetime 0 and external port 0', async () => {
    const { server, m } = await setup()
    const mapping = await m.map({ internalPort: 8080, externalPort: 18080 })
    await m.refresh(mapping)
    await m.unmap(mapping)
    const maps = server.requests.filter((r) => r.op === 2)
    expect(maps.map((r) => [r.externalPort, r.lifetime])).toEqual([[18080, 3600], [18080, 3600], [0, 0]])
    expect(server.mappings.size).toBe(0)
  })

  it('retransmits a lost request until the gateway answers', async () => {
    // Nine tries from 20 ms doubling leave ten seconds for the third to be answered, however loaded the machine.
    const { server, m } = await setup({ initialTimeoutMs: 20, retries: 9 })
    server.dropNext = 2
    expect(await m.externalAddress()).toBe('11.22.33.44')
    // Two were dropped, so at least a third went out; a slow answer may have drawn a fourth.
    expect(server.requests.filter((r) => r.op === 0).length).toBeGreaterThanOrEqual(3)
  })

  it('gives up with timeout when the gateway never answers', async () => {
    const { server, m } = await setup({ initialTimeoutMs: 5, retries: 3 })
    server.silent = true
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining('after 3 tries') })
    expect(server.requests).toHaveLength(3)
  })

  it('surfaces result code 2 as forbidden', async () => {
    const { server, m } = await setup()
    server.resultCode = 2
    await expect(m.externalAddress()).rejects.toMatchObject({ code: 'forbidden', extra: { natpmp_result_code: 2 } })
  })

  it('deletes its mappings on close and refuses work afterwards', async () => {
    const { server, m } = await setup()
    await m.map({ internalPort: 8080 })
    await m.map({ internalPort: 8081, protocol: 'UDP' })
    await m.close()
    await m.close()
    expect(server.mappings.size).toBe(0)
    await expect(m.map({ internalPort: 8082 })).rejects.toMatchObject({ code: 'service_unavailable' })
  })

  it('undoes a mapping that was still being made when close() was called', async () => {
    const { server, m } = await setup()
    let release: () => void = () => {}
    let arrived: () => void = () => {}
    const came = new Promise<void>((resolve) => (arrived = resolve))
    server.beforeMapAnswer = () => {
      arrived()
      return new Promise<void>((resolve) => (release = resolve))
    }
    const mapping = m.map({ internalPort: 8080 })
    await came
    const closed = m.close()
    release()
    await closed
    await expect(mapping).rejects.toMatchObject({ code: 'service_unavailable' })
    expect(server.requests.filter((r) => r.op === 2).map((r) => r.lifetime)).toEqual([3600, 0])
    expect(server.mappings.size).toBe(0)
  })
})
