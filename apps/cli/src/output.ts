/**
 * The output layer (issue 6): people get colour, spinners and tables; `--json` gets exactly one JSON
 * document per result on stdout and nothing else there, failures included. Progress and notes always go
 * to stderr, so `iicp discover … --json | jq` never sees them.
 */
import type { Writable } from 'node:stream'
import Table from 'cli-table3'
import { createColors } from 'picocolors'
import yoctoSpinner from 'yocto-spinner'
import type { Failure } from './exit.js'

/** Colour functions, switched off when the stream is not a terminal or NO_COLOR is set. */
export type Colors = ReturnType<typeof createColors>

/** Where a command writes; injectable so `main()` can run against buffers. */
export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean }
  readonly stderr: Writable & { isTTY?: boolean }
  readonly env: Readonly<Record<string, string | undefined>>
}

/** A progress indicator that is a spinner on a terminal and silent elsewhere. */
export interface Progress {
  /** Change the text while waiting. */
  update(text: string): void
  /** Stop with a success mark and a final line (omitted in JSON mode). */
  succeed(text: string): void
  /** Stop without a line (the failure is reported separately). */
  stop(): void
}

/** The process's real streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env }
}

function colorEnabled(stream: { isTTY?: boolean }, env: CliIo['env']): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  return stream.isTTY === true
}

/** Human or JSON rendering for one command run. */
export class Output {
  readonly json: boolean
  /** Colours for stdout text. */
  readonly c: Colors
  /** Colours for stderr text. */
  readonly ce: Colors
  readonly #io: CliIo

  constructor(io: CliIo, json: boolean) {
    this.#io = io
    this.json = json
    this.c = createColors(!json && colorEnabled(io.stdout, io.env))
    this.ce = createColors(!json && colorEnabled(io.stderr, io.env))
  }

  /** Whether stderr is an interactive terminal (spinners and a redrawn status line only then). */
  get interactive(): boolean {
    return !this.json && this.#io.stderr.isTTY === true
  }

  /** A command's result: `value` as one JSON line, or `human()` for people. */
  result(value: unknown, human: () => string): void {
    if (this.json) this.#io.stdout.write(`${JSON.stringify(value)}\n`)
    else this.#io.stdout.write(`${human()}\n`)
  }

  /** A JSON event line in JSON mode (long-running commands), a human line otherwise. */
  event(value: unknown, human: string): void {
    if (this.json) this.#io.stdout.write(`${JSON.stringify(value)}\n`)
    else this.#io.stderr.write(`${human}\n`)
  }

  /** A note for people on stderr; nothing in JSON mode. */
  note(text: string): void {
    if (!this.json) this.#io.stderr.write(`${text}\n`)
  }

  /** Redraw one status line in place (terminal only). */
  status(text: string): void {
    if (this.interactive) this.#io.stderr.write(`\r\u001b[2K${text}`)
  }

  /** Clear the status line before printing something else. */
  clearStatus(): void {
    if (this.interactive) this.#io.stderr.write('\r\u001b[2K')
  }

  /** Report a failure: `{"error":{code,message,hint}}` on stdout in JSON mode, `error: …` on stderr otherwise. */
  fail(failure: Failure): void {
    if (this.json) {
      const error: Record<string, unknown> = { code: failure.code, message: failure.message }
      if (failure.hint !== undefined) error.hint = failure.hint
      this.#io.stdout.write(`${JSON.stringify({ error })}\n`)
      return
    }
    this.clearStatus()
    const hint = failure.hint === undefined ? '' : `\n${this.ce.dim(failure.hint)}`
    this.#io.stderr.write(`${this.ce.red('error:')} ${failure.message}${hint}\n`)
  }

  /**
   * A spinner on stderr while waiting for `text`; inert in JSON mode or off a terminal. By default Ctrl-C
   * stops it and exits (restoring the cursor); commands that shut down on signals themselves pass `false`.
   */
  progress(text: string, handleSignals = true): Progress {
    if (!this.interactive) {
      return { update: () => {}, succeed: (t) => this.note(`${this.ce.green('✔')} ${t}`), stop: () => {} }
    }
    const spinner = yoctoSpinner({ text, stream: this.#io.stderr, handleSignals }).start()
    return {
      update: (t) => {
        spinner.text = t
      },
      succeed: (t) => {
        spinner.success(t)
      },
      stop: () => {
        spinner.clear()
        spinner.stop()
      },
    }
  }

  /** A table for lists (discover, mesh nodes). */
  table(head: readonly string[], rows: readonly (readonly string[])[]): string {
    const table = new Table({
      head: head.map((h) => this.c.bold(h)),
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    })
    for (const row of rows) table.push([...row])
    return table.toString()
  }
}
