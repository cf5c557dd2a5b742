/** The machine's processes, as the `mill up` tests look for leftovers. */

/** Pids whose command line mentions `text`. */
export async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) pids.push(Number(entry.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}
