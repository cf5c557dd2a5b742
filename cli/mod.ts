/** mill-cli: one file per command. */

/** Runs the CLI on `args` and returns the process exit code. */
export async function runCli(args: readonly string[]): Promise<number> {
  await Promise.resolve();
  if (args[0] === "version") {
    console.log("mill 0.1.0");
    return 0;
  }
  console.error("usage: mill <command>");
  return 2;
}
