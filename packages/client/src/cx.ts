/**
 * IICP-CX on the consumer side (wire.md §2.7; reference-implementations §5.4): encrypt the payload to a node
 * that advertises `cx_public_key`, ask for an encrypted response when it advertises `response_encryption_v1`,
 * decrypt `iicp_conf_resp`, and refuse a plaintext reply after encryption was advertised. The cryptography is
 * @iicp/protocol's `encryptRequest` / `decryptResponse`.
 */
import { IicpError, TaskResponseSchema, decryptResponse, encryptRequest, isIicpError, safeParseWire } from '@iicp/protocol'
import type { CxResponseContext, TaskRequestWrite, TaskResponse } from '@iicp/protocol'
import type { Candidate } from './select-node.js'

/** Body fields that replace `payload` when encrypting, and what is needed to open the reply. */
export interface SealedPayload {
  readonly fields: Pick<TaskRequestWrite, 'iicp_conf' | 'cx_response_encryption'>
  readonly context: CxResponseContext | undefined
}

/**
 * Encrypt the payload text (serialised once per task, before discovery) to the candidate's key. Only called for a
 * node with a key: a keyless node gets the same text as plaintext (selection already checked the opt-in).
 */
export async function sealPayload(candidate: Candidate, payloadJson: string, taskId: string, intent: string): Promise<SealedPayload | undefined> {
  if (!candidate.cxKey) return undefined
  let sealed
  try {
    sealed = await encryptRequest({ payloadJson, taskId, intent, recipient: candidate.cxKey })
  } catch (err) {
    throw isIicpError(err) ? err : new IicpError('crypto_error', 'Could not encrypt the payload to the node key', { cause: err })
  }
  const fields: SealedPayload['fields'] = { iicp_conf: sealed.iicpConf }
  if (candidate.responseEncryption) fields.cx_response_encryption = 'required'
  return { fields, context: sealed.responseContext }
}

/** Open a parsed task response: decrypt when encrypted, refuse plaintext when encryption was required. */
export async function openResponse(response: TaskResponse, candidate: Candidate, context: CxResponseContext | undefined): Promise<{ response: TaskResponse; encrypted: boolean }> {
  const encrypted = response.status === 'encrypted' || response.iicp_conf_resp !== undefined
  if (!encrypted) {
    if (context && candidate.responseEncryption) {
      throw new IicpError('IICP-CX-RESP-REQUIRED', 'Node answered in plaintext though it advertised response encryption')
    }
    return { response, encrypted: false }
  }
  if (!context || !response.iicp_conf_resp) {
    throw new IicpError('invalid_response', 'Node sent an encrypted response that was not requested')
  }
  let plain: unknown
  try {
    plain = await decryptResponse(response.iicp_conf_resp, context)
  } catch (err) {
    throw new IicpError('invalid_response', 'Encrypted response failed to decrypt', { cause: isIicpError(err) ? err : undefined })
  }
  const parsed = safeParseWire(TaskResponseSchema, plain, 'invalid_response')
  if (!parsed.ok) throw parsed.error
  if (parsed.value.status === 'encrypted') throw new IicpError('invalid_response', 'Decrypted response is still encrypted')
  return { response: parsed.value, encrypted: true }
}
