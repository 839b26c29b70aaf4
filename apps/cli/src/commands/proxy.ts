import type { RunContext } from "../program.js"
export async function proxy(_ctx: RunContext<unknown>): Promise<number> { return 1 }
