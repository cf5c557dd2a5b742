import { runCli } from "./mod.ts";

Deno.test("runCli() rejects an unknown command with exit code 2", async () => {
  const code = await runCli(["no-such-command"]);
  if (code !== 2) throw new Error(`expected 2, got ${code}`);
});
