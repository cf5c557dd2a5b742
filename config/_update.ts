/**
 * The `update { order = "start-first"; max_parallel = 2 }` block of a
 * service: how a change of the service replaces its replicas.
 */

import type { BlockNode } from "./cst.ts";
import type { UpdateConfig } from "./types.ts";
import { UPDATE_DEFAULT } from "./types.ts";
import { BlockReader, type BlockSpec } from "./_reader.ts";
import { nested, refuseLabels } from "./_nested.ts";
import { REPLICAS_MAX } from "./limits.ts";

const UPDATE_SPEC: BlockSpec = {
  attributes: ["order", "max_parallel"],
  blocks: [],
};

export const UPDATE_ORDERS: readonly UpdateConfig["order"][] = [
  "start-first",
  "stop-first",
  "auto",
];

/**
 * Reads the service's `update` blocks: undefined without one (the model then
 * leaves `update` absent, which means `UPDATE_DEFAULT`); a second block is
 * reported. Fields not written take `UPDATE_DEFAULT`'s values.
 */
export function readUpdate(
  parent: BlockReader,
): UpdateConfig | undefined {
  const blocks = parent.blocks("update");
  for (const extra of blocks.slice(1)) {
    parent.report(
      "config.duplicate_field",
      `Block "update" appears twice in ${parent.scope.label}; keep one`,
      extra.pos,
      { field: "update" },
    );
  }
  const block: BlockNode | undefined = blocks[0];
  if (block === undefined) return undefined;
  const reader = new BlockReader(
    parent.sink,
    nested(parent, block),
    block.body,
    UPDATE_SPEC,
  );
  const order = reader.choice("order", UPDATE_ORDERS);
  const maxParallel = reader.number("max_parallel", {
    integer: true,
    min: 1,
    max: REPLICAS_MAX,
  });
  refuseLabels(reader, block);
  reader.finish();
  return {
    order: order ?? UPDATE_DEFAULT.order,
    maxParallel: maxParallel ?? UPDATE_DEFAULT.maxParallel,
  };
}
