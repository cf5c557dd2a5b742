/**
 * The adapter to npm:hcl2-parser (HashiCorp's HCL, through hcl2json, compiled
 * to JavaScript by GopherJS), the only module that imports it. bench/config.ts
 * times it against mill on one text both accept: it rejects the `.mill`
 * dialect (`;`-joined attributes), so both read a standard-HCL rendering.
 * `parseToObject` parses and converts to a JavaScript object, the nearest
 * counterpart of mill's parse to a model.
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
