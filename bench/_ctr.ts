/** One `ctr` call against mill's namespace on `socket`; throws with its stderr. */
export async function ctr(socket: string, args: string[]): Promise<void> {
  const result = await new Deno.Command("ctr", {
    args: ["--address", socket, "--namespace", "mill", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `ctr ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
}
