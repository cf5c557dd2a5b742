/**
 * What Ctrl-C does to an attached `mill deploy` (pure): in a terminal it asks
 * `Cancel deploy <id>? [y/N]`; `y` cancels (and the command keeps streaming
 * until the rollback ends), anything else detaches (the deploy goes on).
 * Without a terminal a SIGINT detaches at once. A second Ctrl-C while asking,
 * or once the cancel is asked for, detaches.
 */

export type InterruptState =
  | "streaming"
  | "asking"
  | "cancelling"
  | "detached";

/** What the command does after an interrupt or an answer. */
export type InterruptAction =
  | { readonly kind: "ask"; readonly prompt: string }
  | { readonly kind: "cancel" }
  | { readonly kind: "detach"; readonly message: string }
  | { readonly kind: "none" };

export interface InterruptStep {
  readonly state: InterruptState;
  readonly action: InterruptAction;
}

/** The exit status of a command that detached from its deploy (128 + SIGINT). */
export const DETACHED_EXIT = 130;

function deployName(deployId: string | null): string {
  return deployId === null ? "the deploy" : `deploy ${deployId}`;
}

export function cancelPrompt(deployId: string | null): string {
  return `Cancel ${deployName(deployId)}? [y/N] `;
}

/** Says that the deploy goes on and how to follow or cancel it. */
export function detachMessage(deployId: string | null): string {
  return `detached: ${deployName(deployId)} goes on; ` +
    `follow it with "mill status", cancel it with "mill deploy --cancel"`;
}

/** True for an answer that means yes (`y`, `yes`, any case, spaces around). */
export function isYes(answer: string | null): boolean {
  return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
}

/** A SIGINT in `state`; `terminal` when the user can answer a prompt. */
export function onInterrupt(
  state: InterruptState,
  terminal: boolean,
  deployId: string | null,
): InterruptStep {
  switch (state) {
    case "streaming":
      return terminal
        ? {
          state: "asking",
          action: { kind: "ask", prompt: cancelPrompt(deployId) },
        }
        : detach(deployId);
    case "asking":
    case "cancelling":
      return detach(deployId);
    case "detached":
      return { state, action: { kind: "none" } };
  }
}

/** The answer to the prompt (null: stdin ended). */
export function onAnswer(
  state: InterruptState,
  answer: string | null,
  deployId: string | null,
): InterruptStep {
  if (state !== "asking") return { state, action: { kind: "none" } };
  return isYes(answer)
    ? { state: "cancelling", action: { kind: "cancel" } }
    : detach(deployId);
}

function detach(deployId: string | null): InterruptStep {
  return {
    state: "detached",
    action: { kind: "detach", message: detachMessage(deployId) },
  };
}
