import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { describePlan, planNemesis } from "./_nemesis_plan.ts";

Deno.test("planNemesis() is the same for a seed, bounded, and draws every kind of fault", () => {
  const options = { nodes: 3, budgetMs: 40_000 };
  assertEquals(planNemesis(7, options), planNemesis(7, options));
  assertTrue(
    describePlan(planNemesis(7, options)) !==
      describePlan(planNemesis(8, options)),
    "two seeds, two schedules",
  );
  const kinds = new Set<string>();
  let leaderTargets = 0;
  for (let seed = 0; seed < 50; seed++) {
    const steps = planNemesis(seed, options);
    const total = steps.reduce((s, x) => s + x.holdMs + x.quietMs, 0);
    const last = steps.at(-1)!;
    assertTrue(total >= options.budgetMs, `seed ${seed} fills its budget`);
    assertTrue(
      total - last.holdMs - last.quietMs < options.budgetMs,
      `seed ${seed} stops once the budget is reached`,
    );
    for (const step of steps) {
      kinds.add(step.fault.kind);
      assertTrue(step.holdMs >= 2_000 && step.holdMs <= 5_000);
      const node = step.fault.node;
      if (node === "leader") leaderTargets++;
      else assertTrue(node >= 0 && node < 3, `node ${node} exists`);
      if (step.fault.kind === "one-way") {
        assertTrue(step.fault.offset === 1 || step.fault.offset === 2);
      }
    }
  }
  assertEquals([...kinds].sort(), ["bridge", "kill", "minority", "one-way"]);
  assertTrue(leaderTargets > 0, "some steps hit the leader");
});

Deno.test("planNemesis() refuses a cluster too small to partition", () => {
  let message = "";
  try {
    planNemesis(1, { nodes: 2, budgetMs: 1_000 });
  } catch (error) {
    message = (error as Error).message;
  }
  assertTrue(message.includes("at least 3 nodes"), message);
});
