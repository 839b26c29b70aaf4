/** The README's usage snippet, type-checked: a node serving a local Ollama model on the public mesh. */
import { IicpNode, createNodeLogger, nodeOptionsFromEnv, openaiCompatible } from '@iicp/node'

const node = new IicpNode({
  ...nodeOptionsFromEnv(process.env),
  backend: openaiCompatible({ baseUrl: 'http://127.0.0.1:11434', model: 'llama3.2', name: 'ollama' }),
  region: 'eu-central',
  logger: createNodeLogger({ level: 'info' }),
})
node.on('registered', ({ nodeId, endpoint }) => console.log(`registered ${nodeId} at ${endpoint}`))
node.on('degraded', ({ reason, code }) => console.warn(`degraded: ${reason} (${code})`))
await node.serve()
node.closeOnSignals()
node.once('closed', () => process.exit(0))
