/**
 * The live chat node directory-dispatch-v1 needs: DIR-DISPATCH-01 asks a loopback directory for a ticket to
 * `urn:iicp:intent:llm:chat:v1` and expects 201, which no directory can give while it lists no chat node (a
 * fresh `iicp directory serve` answers 404). The runner brings one: a small node on 127.0.0.1 that answers
 * `/iicp/health` (so the directory's liveness probe passes without any test mode), registered for the
 * profile's run and deregistered with its own token afterwards. The profile is loopback-only, so the directory
 * can always reach it; a directory that refuses it (public mode refuses loopback endpoints) is reported.
 */
import { CHAT_INTENT } from './local-mesh.js'
import { startFaultNode } from './fault-node.js'
import { TargetUnreachable } from './target-http.js'
import type { TargetHttp } from './target-http.js'
import { safeCode } from './checks/types.js'

/** The region the fixture node registers in, so an operator can tell it apart in a directory listing. */
export const FIXTURE_REGION = 'conformance-fixture'

/** How the fixture node fared; `refused` is a content-free reason (status and error code only). */
export type FixtureOutcome = { readonly registered: true } | { readonly registered: false; readonly refused: string }

function errorCode(json: unknown): string | undefined {
  const error = (json as { error?: { code?: unknown } } | null | undefined)?.error
  return error?.code === undefined ? undefined : safeCode(error.code)
}

/**
 * Run `fn` while a runner-hosted chat node is registered with the directory at `origin`; the node is
 * deregistered and closed afterwards, whatever `fn` did. `fn` receives whether the registration took.
 */
export async function withFixtureChatNode<T>(origin: string, http: TargetHttp, signal: AbortSignal, fn: (outcome: FixtureOutcome) => Promise<T>): Promise<T> {
  const node = await startFaultNode({ behaviour: 'ok', intents: [CHAT_INTENT], region: FIXTURE_REGION })
  let token: string | undefined
  let nodeId = node.nodeId
  try {
    let outcome: FixtureOutcome
    try {
      const res = await http.send({ method: 'POST', url: `${origin}/api/v1/register`, body: node.registrationBody(), signal })
      const json = res.json as { node_token?: unknown; node_id?: unknown } | undefined
      if (res.status === 201 && typeof json?.node_token === 'string') {
        token = json.node_token
        if (typeof json.node_id === 'string') nodeId = json.node_id
        outcome = { registered: true }
      } else {
        const code = errorCode(res.json)
        outcome = { registered: false, refused: `HTTP ${res.status}${code !== undefined ? ` ${code}` : ''}` }
      }
    } catch (err) {
      if (!(err instanceof TargetUnreachable)) throw err
      outcome = { registered: false, refused: 'no answer' }
    }
    return await fn(outcome)
  } finally {
    if (token !== undefined) {
      // Best effort: a directory that lost the node already (or went away) leaves nothing to clean up.
      await http.send({
        method: 'DELETE', url: `${origin}/api/v1/register`, headers: { authorization: `Bearer ${token}` }, body: { node_id: nodeId },
      }).catch(() => undefined)
    }
    await node.close()
  }
}
