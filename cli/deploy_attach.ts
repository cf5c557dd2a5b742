/**
 * An attached `mill deploy` and the user: SIGINT, the terminal, the prompt.
 * `Interrupts` runs the pure flow of deploy_interrupt.ts against them: it
 * holds the deploy's output while the prompt is open, asks the cluster to
 * cancel on `y`, and aborts the stream on a detach.
 */
import {
  type InterruptAction,
  type InterruptState,
  onAnswer,
  onInterrupt,
} from "./deploy_interrupt.ts";
import type { Output } from "./output.ts";

/** Where a deploy's interrupts come from and the prompt's answer is read. */
export interface DeployAttach {
  /** The user can answer a prompt: stdin and stderr are terminals. */
  readonly terminal: boolean;
  /** Calls `handler` on each SIGINT until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
  /** One line the user typed; null when input ended. */
  readAnswer(): Promise<string | null>;
}

/** The process's SIGINT, stdin and terminal. */
export function processAttach(): DeployAttach {
  return {
    terminal: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    onInterrupt(handler) {
      Deno.addSignalListener("SIGINT", handler);
      return () => Deno.removeSignalListener("SIGINT", handler);
    },
    readAnswer: () => readLine(Deno.stdin.readable),
  };
}

/** The first line of `stream` (without its newline), or null at its end. */
export async function readLine(
  stream: ReadableStream<Uint8Array>,
): Promise<string | null> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text === "" ? null : text;
      text += decoder.decode(value, { stream: true });
      const newline = text.indexOf("\n");
      if (newline >= 0) return text.slice(0, newline);
    }
  } finally {
    reader.releaseLock();
  }
}

export interface InterruptsOptions {
  readonly attach: DeployAttach;
  readonly output: Output;
  /** Asks the cluster to cancel; resolves with the id it cancelled. */
  cancel(deployId: string | null): Promise<string>;
  /** Called once when the command detaches (abort the stream there). */
  detach(): void;
}

/** Ctrl-C on one attached deploy. */
export class Interrupts {
  readonly #options: InterruptsOptions;
  #state: InterruptState = "streaming";
  #deployId: string | null = null;
  #held: (() => void)[] | null = null;
  #unsubscribe: (() => void) | null;

  constructor(options: InterruptsOptions) {
    this.#options = options;
    this.#unsubscribe = options.attach.onInterrupt(() => {
      const step = onInterrupt(
        this.#state,
        options.attach.terminal,
        this.#deployId,
      );
      this.#state = step.state;
      void this.#act(step.action);
    });
  }

  get detached(): boolean {
    return this.#state === "detached";
  }

  /** The deploy's id, once its `start` event named it. */
  set deployId(id: string) {
    this.#deployId = id;
  }

  /** Runs `write` now, or once the prompt is answered. */
  emit(write: () => void): void {
    if (this.#held === null) write();
    else this.#held.push(write);
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#release();
  }

  #release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const write of held) write();
  }

  async #act(action: InterruptAction): Promise<void> {
    const { output } = this.#options;
    switch (action.kind) {
      case "ask": {
        this.#held = [];
        output.writeErr(`\n${action.prompt}`);
        const answer = await this.#options.attach.readAnswer();
        const step = onAnswer(this.#state, answer, this.#deployId);
        this.#state = step.state;
        this.#release();
        await this.#act(step.action);
        return;
      }
      case "cancel":
        try {
          const id = await this.#options.cancel(this.#deployId);
          output.error(`cancelling deploy ${id}: rolling back`);
        } catch (error) {
          const message = error instanceof Error
            ? error.message
            : String(error);
          const code = (error as { code?: unknown }).code;
          output.error(
            `error[${
              typeof code === "string" ? code : "cli.failed"
            }]: ${message}`,
          );
        }
        return;
      case "detach":
        this.#release();
        output.error(action.message);
        this.#options.detach();
        return;
      case "none":
        return;
    }
  }
}
