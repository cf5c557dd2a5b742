import { assertEquals, assertTrue } from "../containerd/_assert_test.ts";
import {
  cancelPrompt,
  detachMessage,
  isYes,
  onAnswer,
  onInterrupt,
} from "./deploy_interrupt.ts";

Deno.test("Ctrl-C in a terminal asks, y cancels, anything else detaches", () => {
  const asked = onInterrupt("streaming", true, "d-7");
  assertEquals(asked, {
    state: "asking",
    action: { kind: "ask", prompt: "Cancel deploy d-7? [y/N] " },
  });
  for (const yes of ["y", "Y", "yes", " YES \n", "y\n"]) {
    assertEquals(onAnswer("asking", yes, "d-7"), {
      state: "cancelling",
      action: { kind: "cancel" },
    }, yes);
  }
  for (const no of ["", "\n", "n", "no", "yy", "sure", null]) {
    const step = onAnswer("asking", no, "d-7");
    assertEquals(step.state, "detached", String(no));
    assertEquals(step.action.kind, "detach");
  }
});

Deno.test("without a terminal SIGINT detaches at once and says how to follow or cancel", () => {
  const step = onInterrupt("streaming", false, "d-9");
  assertEquals(step.state, "detached");
  assertTrue(step.action.kind === "detach");
  if (step.action.kind === "detach") {
    assertTrue(step.action.message.includes("deploy d-9 goes on"));
    assertTrue(step.action.message.includes("mill status"));
    assertTrue(step.action.message.includes("mill deploy --cancel"));
  }
});

Deno.test("a second Ctrl-C detaches; answers and interrupts out of turn do nothing", () => {
  assertEquals(onInterrupt("asking", true, "d").state, "detached");
  assertEquals(onInterrupt("cancelling", true, "d").state, "detached");
  assertEquals(onInterrupt("detached", true, "d"), {
    state: "detached",
    action: { kind: "none" },
  });
  assertEquals(onAnswer("streaming", "y", "d"), {
    state: "streaming",
    action: { kind: "none" },
  });
  assertEquals(onAnswer("cancelling", "y", "d").action.kind, "none");
});

Deno.test("before the start event the deploy has no id yet", () => {
  assertEquals(cancelPrompt(null), "Cancel the deploy? [y/N] ");
  assertTrue(detachMessage(null).startsWith("detached: the deploy goes on"));
  assertTrue(isYes("y") && !isYes(null) && !isYes("n"));
});
