#!/usr/bin/env node
/** Entry point of `pnpm --filter @iicp/conformance start`: runs the conformance command on process.argv. */
import { runCli } from './cli.js'

await runCli(process.argv)
