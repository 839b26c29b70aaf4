/**
 * Deliberately broken SDK variants for must-fail tests: this repo's client, except that one leaks its
 * node token into error messages and the other logs its config (token included) when it is built.
 */
import { IicpClient } from '@iicp/client'
import type { ClientConfig, SubmitOptions, TaskResult } from '@iicp/client'
import { IicpError, isIicpError } from '@iicp/protocol'
import { THIS_SDK } from '../../src/index.js'
import type { SdkUnderTest } from '../../src/index.js'

class ErrorLeakingClient extends IicpClient {
  readonly #token: string | undefined
  constructor(config: ClientConfig) {
    super(config)
    this.#token = config.nodeToken
  }
  override async submit<R = unknown>(intent: string, payload: unknown, options?: SubmitOptions): Promise<TaskResult<R>> {
    try {
      return await super.submit<R>(intent, payload, options)
    } catch (err) {
      const code = isIicpError(err) ? err.code : 'invalid_response'
      throw new IicpError(code, `task failed while using credential ${this.#token ?? ''}`)
    }
  }
}

/** Leaks the token into the message of every failed submit(). */
export const errorLeakingSdk: SdkUnderTest = {
  name: 'error-leaking client',
  createClient: (config) => new ErrorLeakingClient(config),
  createNode: THIS_SDK.createNode,
}

/** Logs its whole config, token included, when built. */
export const logLeakingSdk: SdkUnderTest = {
  name: 'log-leaking client',
  createClient: (config) => {
    config.logger?.info({ config: { ...config, logger: undefined, dispatcher: undefined } }, 'client configured')
    return new IicpClient(config)
  },
  createNode: THIS_SDK.createNode,
}
