#!/usr/bin/env node
// Kept tiny on purpose: the command tree loads lazily so `iicp --help` costs little more than `node -e 0`.
const { main } = await import('./program.js')
process.exitCode = await main(process.argv)
