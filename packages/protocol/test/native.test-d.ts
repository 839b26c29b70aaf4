// Holds down the native codec's public types that the node, client and relay build on: the message `kind`
// union, byte fields as plain Uint8Array (views into socket buffers included), and the result-value signatures.
import { expectTypeOf } from 'vitest'
import type {
  DecodeFrameResult, DecodeMessageResult, Frame, FramePushResult, NativeCall, NativeCodecError, NativeMessage,
  NativeMessageKind, NativeRelayAck, NativeResponse, NativeStreamEvent, SniffResult,
} from '../src/index.js'
import { decodeFrame, decodeNativeMessage, FrameDecoder, sniffProtocol, StreamSequence } from '../src/index.js'

expectTypeOf<NativeMessageKind>().toEqualTypeOf<
  | 'init' | 'ack' | 'discover' | 'discoverResponse' | 'subProtocol' | 'call' | 'response' | 'streamEvent' | 'close'
  | 'feedback' | 'ping' | 'pong' | 'relayBind' | 'relayAck' | 'observe' | 'telemetry'
>()
expectTypeOf<NativeCall['payload']>().toEqualTypeOf<Uint8Array | Record<string, unknown> | undefined>()
expectTypeOf<NativeCall['traceId']>().toEqualTypeOf<Uint8Array | undefined>()
expectTypeOf<NativeCall['callId']>().toEqualTypeOf<string | undefined>()
expectTypeOf<NativeResponse['errorCode']>().toEqualTypeOf<number | undefined>()
expectTypeOf<NativeRelayAck['status']>().toEqualTypeOf<string>()
expectTypeOf<NativeStreamEvent['lifecycle']>().toEqualTypeOf<{ taskId: string; sequence: number; event: string; isFinal: boolean }>()
expectTypeOf<Extract<NativeMessage, { kind: 'ping' }>['echo']>().toEqualTypeOf<Uint8Array | undefined>()
expectTypeOf<Frame['payload']>().toEqualTypeOf<Uint8Array>()

expectTypeOf(decodeFrame).returns.toEqualTypeOf<DecodeFrameResult>()
expectTypeOf(decodeNativeMessage).returns.toEqualTypeOf<DecodeMessageResult>()
expectTypeOf<FrameDecoder['push']>().returns.toEqualTypeOf<FramePushResult>()
expectTypeOf<FramePushResult['error']>().toEqualTypeOf<NativeCodecError | undefined>()
expectTypeOf(sniffProtocol).returns.toEqualTypeOf<SniffResult>()
expectTypeOf<StreamSequence['accept']>().parameter(0).toEqualTypeOf<NativeStreamEvent>()
