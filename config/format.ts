/**
 * `mill fmt`: prints a syntax tree in canonical form. Two-space indent, one
 * space around `=`, `=` aligned in runs of one-attribute lines, at most one
 * blank line, one blank line between top-level blocks. It keeps what the
 * author chose on purpose: every comment, attributes grouped on one line with
 * `;`, blocks and lists written on one line. Idempotent.
 */

import type {
  AttributeNode,
  BlockNode,
  BodyItem,
  CommentNode,
  Expr,
  ListExpr,
  ObjectExpr,
} from "./cst.ts";
import type { ConfigDiagnostic } from "./diagnostic.ts";
import { parseSyntax } from "./parser.ts";
import { syntaxDiagnostics } from "./parse_config.ts";

/** A one-line block longer than this is printed over several lines. */
export const ONE_LINE_CHARS_MAX = 100;
const INDENT = "  ";

export type FormatResult =
  | { readonly ok: true; readonly text: string; readonly changed: boolean }
  | { readonly ok: false; readonly diagnostics: readonly ConfigDiagnostic[] };

/**
 * The canonical text of `source`, or its syntax errors. Only syntax matters:
 * a file with validation errors still formats.
 */
export function formatConfig(
  source: string,
  fileName = "<input>",
): FormatResult {
  const tree = parseSyntax(source);
  if (tree.problems.length > 0) {
    return {
      ok: false,
      diagnostics: syntaxDiagnostics(tree.problems, fileName),
    };
  }
  const lines = printBody(tree.body, 0, true);
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  return { ok: true, text, changed: text !== source };
}

/** A line of a body: attributes joined by `;`, a block, or a comment. */
type Row =
  | { kind: "attributes"; items: AttributeNode[]; blankBefore: boolean }
  | { kind: "block"; item: BlockNode; blankBefore: boolean }
  | { kind: "comment"; item: CommentNode; blankBefore: boolean };

function rowsOf(body: readonly BodyItem[], topLevel: boolean): Row[] {
  const rows: Row[] = [];
  for (const item of body) {
    const prev = rows[rows.length - 1];
    const blankBefore = rows.length > 0 &&
      (item.blankBefore ||
        (topLevel && item.kind === "block" && prev?.kind === "block"));
    if (item.kind === "comment") {
      rows.push({ kind: "comment", item, blankBefore });
    } else if (item.kind === "block") {
      rows.push({ kind: "block", item, blankBefore });
    } else if (
      item.sameLine && prev?.kind === "attributes" && joinable(prev.items)
    ) {
      prev.items.push(item);
    } else {
      rows.push({ kind: "attributes", items: [item], blankBefore });
    }
  }
  return rows;
}

/** The next attribute may follow on the same line after `;`. */
function joinable(items: readonly AttributeNode[]): boolean {
  const last = items[items.length - 1];
  return last !== undefined && last.trailing === undefined &&
    !printExpr(last.value, 0).includes("\n");
}

function printBody(
  body: readonly BodyItem[],
  depth: number,
  topLevel: boolean,
): string[] {
  const indent = INDENT.repeat(depth);
  const rows = rowsOf(body, topLevel);
  const widths = alignmentWidths(rows);
  const lines: string[] = [];
  rows.forEach((row, index) => {
    if (row.blankBefore) lines.push("");
    if (row.kind === "comment") {
      lines.push(indent + row.item.text);
      return;
    }
    if (row.kind === "block") {
      lines.push(...printBlock(row.item, depth));
      return;
    }
    for (const item of row.items) {
      for (const c of item.leading) lines.push(indent + c.text);
    }
    const width = widths[index] ?? 0;
    const printed = row.items.map((item) =>
      printAttribute(item, depth, row.items.length === 1 ? width : 0)
    );
    lines.push(
      indent + printed.join("; ") + trailing(row.items.at(-1)?.trailing),
    );
  });
  return lines;
}

/**
 * Name widths for `=` alignment: runs of rows holding one attribute each,
 * broken by blank lines, comments, blocks and `;` rows.
 */
function alignmentWidths(rows: readonly Row[]): number[] {
  const widths: number[] = new Array(rows.length).fill(0);
  let start = 0;
  const close = (end: number) => {
    let width = 0;
    for (let i = start; i < end; i++) {
      const row = rows[i];
      if (row?.kind === "attributes") {
        width = Math.max(width, row.items[0]?.name.length ?? 0);
      }
    }
    for (let i = start; i < end; i++) widths[i] = width;
  };
  rows.forEach((row, i) => {
    const single = row.kind === "attributes" && row.items.length === 1;
    if (!single || row.blankBefore || hasLeading(row)) {
      close(i);
      start = single ? i : i + 1;
    }
  });
  close(rows.length);
  return widths;
}

function hasLeading(row: Row): boolean {
  return row.kind === "attributes" &&
    row.items.some((i) => i.leading.length > 0);
}

function trailing(comment: CommentNode | undefined): string {
  return comment === undefined ? "" : " " + comment.text;
}

function printAttribute(
  item: AttributeNode,
  depth: number,
  width: number,
): string {
  return `${item.name.padEnd(width)} = ${printExpr(item.value, depth)}`;
}

function printLabel(label: BlockNode["labels"][number]): string {
  return label.raw.startsWith('"') ? label.raw : JSON.stringify(label.value);
}

function printBlock(block: BlockNode, depth: number): string[] {
  const indent = INDENT.repeat(depth);
  const lines = block.leading.map((c) => indent + c.text);
  const header = [block.type, ...block.labels.map(printLabel)].join(" ");
  const end = trailing(block.trailing);
  if (block.body.length === 0) {
    lines.push(`${indent}${header} {}${end}`);
    return lines;
  }
  const oneLine = oneLineBody(block, depth);
  if (oneLine !== undefined) {
    const text = `${indent}${header} { ${oneLine} }${end}`;
    if (text.length - end.length <= ONE_LINE_CHARS_MAX) {
      lines.push(text);
      return lines;
    }
  }
  lines.push(`${indent}${header} {`);
  lines.push(...printBody(block.body, depth + 1, false));
  lines.push(`${indent}}${end}`);
  return lines;
}

/** `a = 1; b = 2` when the block was one line and holds simple attributes. */
function oneLineBody(block: BlockNode, depth: number): string | undefined {
  if (!block.oneLine) return undefined;
  const parts: string[] = [];
  for (const item of block.body) {
    if (item.kind !== "attribute") return undefined;
    if (item.leading.length > 0 || item.trailing !== undefined) {
      return undefined;
    }
    const text = printAttribute(item, depth, 0);
    if (text.includes("\n")) return undefined;
    parts.push(text);
  }
  return parts.join("; ");
}

function printExpr(expr: Expr, depth: number): string {
  switch (expr.kind) {
    case "string":
      return expr.raw;
    case "number":
      return expr.raw;
    case "bool":
      return String(expr.value);
    case "null":
      return "null";
    case "ident":
      return expr.name;
    case "list":
      return printList(expr, depth);
    case "object":
      return printObject(expr, depth);
  }
}

function printList(list: ListExpr, depth: number): string {
  if (list.items.length === 0 && list.closing.length === 0) return "[]";
  const inline = list.items.map((i) => printExpr(i.value, depth));
  if (!list.multiline && !inline.some((t) => t.includes("\n"))) {
    return `[${inline.join(", ")}]`;
  }
  const inner = INDENT.repeat(depth + 1);
  const lines = ["["];
  for (const item of list.items) {
    for (const c of item.leading) lines.push(inner + c.text);
    lines.push(
      `${inner}${printExpr(item.value, depth + 1)},${trailing(item.trailing)}`,
    );
  }
  for (const c of list.closing) lines.push(inner + c.text);
  lines.push(INDENT.repeat(depth) + "]");
  return lines.join("\n");
}

function printObject(object: ObjectExpr, depth: number): string {
  if (object.entries.length === 0 && object.closing.length === 0) return "{}";
  const inline = object.entries.map((e) =>
    `${e.keyRaw} = ${printExpr(e.value, depth)}`
  );
  if (!object.multiline && !inline.some((t) => t.includes("\n"))) {
    return `{ ${inline.join(", ")} }`;
  }
  const inner = INDENT.repeat(depth + 1);
  const width = Math.max(...object.entries.map((e) => e.keyRaw.length), 0);
  const lines = ["{"];
  for (const entry of object.entries) {
    for (const c of entry.leading) lines.push(inner + c.text);
    const value = printExpr(entry.value, depth + 1);
    lines.push(
      `${inner}${entry.keyRaw.padEnd(width)} = ${value}${
        trailing(entry.trailing)
      }`,
    );
  }
  for (const c of object.closing) lines.push(inner + c.text);
  lines.push(INDENT.repeat(depth) + "}");
  return lines.join("\n");
}
