/**
 * The SDK the SDK checks exercise: factories for a consumer client and a provider node. The default is this
 * repository's @iicp/client and @iicp/node; tests pass deliberately broken variants to prove checks fail.
 */
import { IicpClient } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { IicpNode } from '@iicp/node'
import type { NodeOptions } from '@iicp/node'

/** Factories for the SDK under check. */
export interface SdkUnderTest {
  /** Shown in reports. */
  readonly name: string
  /** Build a consumer; must throw IicpError `invalid_config` for bad config (SDK-04, SPEC-SDK-05). */
  createClient(config: ClientConfig): IicpClient
  /** Build a provider node (SDK-NODE-01/02). */
  createNode(options: NodeOptions): IicpNode
}

/** This repository's SDK. */
export const THIS_SDK: SdkUnderTest = Object.freeze({
  name: '@iicp/client + @iicp/node',
  createClient: (config: ClientConfig) => new IicpClient(config),
  createNode: (options: NodeOptions) => new IicpNode(options),
})
