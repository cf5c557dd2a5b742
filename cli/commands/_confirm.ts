/**
 * The yes/no question before a command that stops things: asked only on a
 * terminal; `--yes` skips it; without a terminal and without `--yes` the
 * command refuses (a script must say what it means).
 */
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";

/** The `--yes` option of commands that ask. */
export const YES_OPTION = {
  flags: "-y, --yes",
  description: "do not ask for confirmation (needed without a terminal)",
} as const;

/** Where the answer comes from: the process's stdin by default. */
export interface AnswerSource {
  isTerminal(): boolean;
  /** One line typed by the user, without its newline; null at end of input. */
  readLine(): Promise<string | null>;
}

/**
 * Asks `question`; null to go on, else the exit status to return with
 * (2 without a terminal, 1 when the user declines).
 */
export async function confirmOrExit(
  output: Output,
  command: string,
  question: string,
  yes: boolean,
  source: AnswerSource = stdinSource(),
): Promise<number | null> {
  if (yes) return null;
  if (!source.isTerminal()) {
    output.error(
      `error: ${command} asks for confirmation and stdin is not a terminal; pass --yes to go ahead without asking`,
    );
    return EXIT.usage;
  }
  output.writeErr(`${question} [y/N] `);
  const answer = (await source.readLine())?.trim().toLowerCase() ?? "";
  if (answer === "y" || answer === "yes") return null;
  output.error("cancelled: nothing was changed");
  return EXIT.failure;
}

/** Longest answer line read. */
const ANSWER_BYTES_MAX = 1024;

function stdinSource(): AnswerSource {
  return {
    isTerminal: () => Deno.stdin.isTerminal(),
    async readLine() {
      const bytes: number[] = [];
      const buffer = new Uint8Array(1);
      // One byte at a time so that nothing after the line is consumed.
      while (bytes.length < ANSWER_BYTES_MAX) {
        const read = await Deno.stdin.read(buffer);
        if (read === null) return bytes.length === 0 ? null : decode(bytes);
        if (buffer[0] === 0x0a) return decode(bytes);
        bytes.push(buffer[0]!);
      }
      return decode(bytes);
    },
  };
}

function decode(bytes: number[]): string {
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}
