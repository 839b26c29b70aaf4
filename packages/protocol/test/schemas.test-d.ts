// Holds down the inferred wire types other packages build on: snake_case fields, the lenient
// read types (status narrowed to the four spec words) and the exact write types.
import { expectTypeOf } from 'vitest'
import type {
  CxPublicKey, DispatchTicketResponse, HeartbeatRequest, NodeList, NodeSummary, RegisterAck, RegisterRequest,
  TaskRequest, TaskRequestWrite, TaskResponse, TaskResponseWrite, TaskStatus,
} from '../src/index.js'
import { FORBIDDEN_TICKET_KEYS, validateImplementationMetadata, validateIntentPayload } from '../src/index.js'
import type { IicpError } from '../src/index.js'

expectTypeOf<TaskStatus>().toEqualTypeOf<'success' | 'error' | 'timeout' | 'encrypted'>()
expectTypeOf<TaskResponse['status']>().toEqualTypeOf<TaskStatus>()
expectTypeOf<TaskResponseWrite['status']>().toEqualTypeOf<'success' | 'error' | 'timeout' | 'encrypted'>()
expectTypeOf<TaskRequest['task_id']>().toEqualTypeOf<string>()
expectTypeOf<TaskRequest['payload']>().toEqualTypeOf<Record<string, unknown> | undefined>()
expectTypeOf<TaskRequestWrite['constraints']['timeout_ms']>().toEqualTypeOf<number>()
expectTypeOf<TaskRequestWrite['cx_response_encryption']>().toEqualTypeOf<'required' | undefined>()
expectTypeOf<NodeList['nodes']>().toEqualTypeOf<NodeSummary[]>()
expectTypeOf<NodeSummary['score']>().toEqualTypeOf<number>()
expectTypeOf<NodeSummary['available']>().toEqualTypeOf<boolean>()
expectTypeOf<NodeSummary['cx_public_key']>().toEqualTypeOf<CxPublicKey | null | undefined>()
expectTypeOf<NodeSummary['route_evidence']>().toEqualTypeOf<string | string[] | null | undefined>()
expectTypeOf<RegisterRequest['limits']['max_concurrent']>().toEqualTypeOf<number>()
expectTypeOf<RegisterRequest['capabilities'][number]['intent']>().toEqualTypeOf<string>()
expectTypeOf<RegisterAck['node_token']>().toEqualTypeOf<string>()
expectTypeOf<HeartbeatRequest['node_id']>().toEqualTypeOf<string>()
expectTypeOf<DispatchTicketResponse['prompt_payload_accepted']>().toEqualTypeOf<false>()
expectTypeOf(FORBIDDEN_TICKET_KEYS).toEqualTypeOf<readonly ['prompt', 'messages', 'payload', 'input', 'chat', 'content', 'response']>()
expectTypeOf(validateIntentPayload).returns.toEqualTypeOf<IicpError | undefined>()
expectTypeOf(validateImplementationMetadata).parameter(0).toEqualTypeOf<unknown>()
