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

/** Output to the process's stdout and stderr. */
export function consoleOutput(): Output {
  const encoder = new TextEncoder();
  const write = (stream: typeof Deno.stdout, text: string) => {
    const bytes = encoder.encode(text);
    for (let written = 0; written < bytes.length;) {
      written += stream.writeSync(bytes.subarray(written));
    }
  };
  const noColor = noColorVariable();
  return {
    line: (text) => write(Deno.stdout, text + "\n"),
    error: (text) => write(Deno.stderr, text + "\n"),
    writeOut: (text) => write(Deno.stdout, text),
    writeErr: (text) => write(Deno.stderr, text),
    colorOut: colorAllowed(Deno.stdout.isTerminal(), noColor),
    colorErr: colorAllowed(Deno.stderr.isTerminal(), noColor),
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
