/**
 * The adapter to npm:hcl2-parser (HashiCorp's HCL compiled to JavaScript),
 * the only module that imports it. Used as context in bench/config.ts: it
 * rejects the `.mill` dialect (`;`-joined attributes), so it is timed on a
 * standard-HCL rendering of the same file.
 */

import hcl2 from "hcl2-parser";

/** Parses standard HCL; throws when the text is not standard HCL. */
export function parseStandardHcl(source: string): unknown {
  const [value, error] = hcl2.parseToObject(source) as [unknown, unknown];
  if (error !== null && error !== undefined) {
    throw new Error("hcl2-parser rejected the input", { cause: error });
  }
  return value;
}
