/**
 * The CLI renderer: the only code of mill's CLI that writes to the console.
 * Colour only when the stream is a terminal and NO_COLOR is unset or empty.
 */

export type Style = "red" | "green" | "yellow" | "bold" | "dim";

const CODES: Readonly<Record<Style, [number, number]>> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  bold: [1, 22],
  dim: [2, 22],
};

/** Where a command writes; tests pass a buffer, main passes the console. */
export interface Output {
  /** Standard output, one call per line (a newline is added). */
  line(text: string): void;
  /** Standard error, one call per line. */
  error(text: string): void;
  /** Raw writes, no newline added (help text from the argument parser). */
  writeOut(text: string): void;
  writeErr(text: string): void;
  readonly colorOut: boolean;
  readonly colorErr: boolean;
  /**
   * Aborted once stdout is closed (its reader, such as `head`, went away):
   * from then on writes to it are dropped, and a command that streams
   * stops and exits quietly. Absent on outputs that cannot close.
   */
  readonly closed?: AbortSignal;
}

/** Wraps `text` in the ANSI codes of `style` when `enabled`. */
export function paint(enabled: boolean, style: Style, text: string): string {
  if (!enabled) return text;
  const [on, off] = CODES[style];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** Whether colour is allowed: a terminal, and NO_COLOR unset or empty. */
export function colorAllowed(
  isTerminal: boolean,
  noColor: string | undefined,
): boolean {
  return isTerminal && (noColor === undefined || noColor === "");
}

function noColorVariable(): string | undefined {
  try {
    return Deno.env.get("NO_COLOR");
  } catch (err) {
    // Without env permission we cannot know the user's wish: stay plain.
    if (err instanceof Deno.errors.NotCapable) return "1";
    throw err;
  }
}

/**
 * A writer to `stream` that drops every write once the stream is closed
 * (a broken pipe), calling `onClosed` the first time, instead of throwing.
 */
export function closableWriter(
  stream: { writeSync(bytes: Uint8Array): number },
  onClosed: () => void,
): (text: string) => void {
  const encoder = new TextEncoder();
  let closed = false;
  return (text) => {
    if (closed) return;
    const bytes = encoder.encode(text);
    try {
      for (let written = 0; written < bytes.length;) {
        written += stream.writeSync(bytes.subarray(written));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
      closed = true;
      onClosed();
    }
  };
}

/** Output to the process's stdout and stderr; a closed one is no error. */
export function consoleOutput(): Output {
  const closed = new AbortController();
  const out = closableWriter(Deno.stdout, () => closed.abort());
  const err = closableWriter(Deno.stderr, () => {});
  const noColor = noColorVariable();
  return {
    line: (text) => out(text + "\n"),
    error: (text) => err(text + "\n"),
    writeOut: out,
    writeErr: err,
    colorOut: colorAllowed(Deno.stdout.isTerminal(), noColor),
    colorErr: colorAllowed(Deno.stderr.isTerminal(), noColor),
    closed: closed.signal,
  };
}

/** Output captured in memory, for tests. */
export interface BufferOutput extends Output {
  readonly stdout: () => string;
  readonly stderr: () => string;
}

export function bufferOutput(color = false): BufferOutput {
  let out = "";
  let err = "";
  return {
    line: (text) => void (out += text + "\n"),
    error: (text) => void (err += text + "\n"),
    writeOut: (text) => void (out += text),
    writeErr: (text) => void (err += text),
    colorOut: color,
    colorErr: color,
    stdout: () => out,
    stderr: () => err,
  };
}
