/**
 * One HTTP exchange over undici's dispatch API for the long-poll worker's pulls and result posts: the status, the
 * content type and the whole body, with no body stream in between (undici's `request()` builds a readable stream
 * per response, which costs more than a fast handler's task).
 */
import type { Dispatcher } from 'undici'

/** What an exchange returns. */
export interface ExchangeResult {
  status: number
  type: string | undefined
  body: Buffer
}

/** Send one request; rejects on a transport error or when `signal` aborts. `keepBody` false drops the body unread. */
export function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal?: AbortSignal, keepBody = true): Promise<ExchangeResult> {
  return new Promise<ExchangeResult>((resolve, reject) => {
    let status = 0
    let type: string | undefined
    let chunks: Buffer[] = []
    let size = 0
    let controller: Dispatcher.DispatchController | undefined
    const onAbort = (): void => controller?.abort(new Error('aborted'))
    const settled = (): void => signal?.removeEventListener('abort', onAbort)
    if (signal?.aborted === true) {
      reject(new Error('aborted'))
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    dispatcher.dispatch(options, {
      // Called again when undici retries the request on a fresh connection: start over.
      onRequestStart(c) {
        controller = c
        chunks = []
        size = 0
        if (signal?.aborted === true) c.abort(new Error('aborted'))
      },
      onResponseStart(_c, statusCode, headers) {
        status = statusCode
        const t = headers['content-type']
        type = typeof t === 'string' ? t : undefined
      },
      onResponseData(_c, chunk) {
        if (!keepBody) return
        chunks.push(chunk)
        size += chunk.length
      },
      onResponseEnd() {
        settled()
        resolve({ status, type, body: chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size) })
      },
      onResponseError(_c, err) {
        settled()
        reject(err)
      },
    })
  })
}
