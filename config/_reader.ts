/**
 * Typed reads of one block's fields, reporting every problem as a positioned
 * diagnostic: wrong type, bad unit, out of range, duplicates, and at the end
 * (`finish`) the fields nobody asked for, with a did-you-mean.
 */

import type {
  AttributeNode,
  BlockNode,
  BodyItem,
  Expr,
  Position,
} from "./cst.ts";
import { describeExpr } from "./cst.ts";
import type { ConfigDiagnostic, ConfigErrorCode } from "./diagnostic.ts";
import { suggest } from "./_suggest.ts";
import {
  formatDuration,
  formatSize,
  parseDuration,
  parseSize,
} from "./units.ts";
import { findInterpolations } from "./secrets.ts";

/** Where diagnostics go. */
export interface Sink {
  readonly file: string;
  readonly diagnostics: ConfigDiagnostic[];
}

/** How a block reads in messages and in `diagnostic.block`. */
export interface Scope {
  /** `service "web"`, `health of service "web"`. */
  readonly label: string;
  /** `service "web"`, `service "web" > health`. */
  readonly path: string;
}

export interface Extra {
  readonly field?: string;
  readonly expected?: string;
  readonly found?: string;
}

export function report(
  sink: Sink,
  scope: Scope | undefined,
  code: ConfigErrorCode,
  message: string,
  pos: Position,
  extra: Extra = {},
): void {
  const diagnostic: ConfigDiagnostic = {
    code,
    message,
    file: sink.file,
    line: pos.line,
    column: pos.column,
    ...(scope === undefined || scope.path === "" ? {} : { block: scope.path }),
    ...extra,
  };
  sink.diagnostics.push(diagnostic);
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The fields a block allows, and special refusals for known-but-wrong ones. */
export interface BlockSpec {
  readonly attributes: readonly string[];
  readonly blocks: readonly string[];
  readonly refused?: Readonly<
    Record<string, { code: ConfigErrorCode; message: string }>
  >;
}

/** One `KEY = value` of an env or labels map. */
export interface MapEntry {
  readonly key: string;
  readonly keyPos: Position;
  readonly value: Expr;
}

export class BlockReader {
  readonly #sink: Sink;
  readonly scope: Scope;
  get sink(): Sink {
    return this.#sink;
  }
  readonly #spec: BlockSpec;
  readonly #attributes = new Map<string, AttributeNode>();
  readonly #blocks = new Map<string, BlockNode[]>();
  readonly #usedAttributes = new Set<string>();
  readonly #usedBlocks = new Set<string>();
  readonly #order: (AttributeNode | BlockNode)[] = [];

  constructor(
    sink: Sink,
    scope: Scope,
    body: readonly BodyItem[],
    spec: BlockSpec,
  ) {
    this.#sink = sink;
    this.scope = scope;
    this.#spec = spec;
    for (const item of body) {
      if (item.kind === "attribute") this.#addAttribute(item);
      if (item.kind === "block") {
        const list = this.#blocks.get(item.type) ?? [];
        list.push(item);
        this.#blocks.set(item.type, list);
        this.#order.push(item);
      }
    }
  }

  #addAttribute(item: AttributeNode): void {
    const first = this.#attributes.get(item.name);
    if (first === undefined) {
      this.#attributes.set(item.name, item);
      this.#order.push(item);
      return;
    }
    this.report(
      "config.duplicate_field",
      `Field "${item.name}" is set twice in ${this.scope.label} (first at ${first.pos.line}:${first.pos.column}); keep one`,
      item.pos,
      { field: item.name },
    );
  }

  report(
    code: ConfigErrorCode,
    message: string,
    pos: Position,
    extra: Extra = {},
  ): void {
    report(this.#sink, this.scope, code, message, pos, extra);
  }

  /** `Field "port" of service "web"`. */
  where(field: string): string {
    return `Field "${field}" of ${this.scope.label}`;
  }

  /** Whether a field or block of that name is written, without reading it. */
  present(name: string): boolean {
    return this.#attributes.has(name) || this.#blocks.has(name);
  }

  /** The attribute, marked as read. */
  attribute(name: string): AttributeNode | undefined {
    this.#usedAttributes.add(name);
    return this.#attributes.get(name);
  }

  blocks(type: string): BlockNode[] {
    this.#usedBlocks.add(type);
    return this.#blocks.get(type) ?? [];
  }

  /** Reports a missing required field at `pos` (the block's keyword). */
  missing(name: string, example: string, pos: Position): void {
    this.report(
      "config.missing_field",
      `${
        capitalize(this.scope.label)
      } is missing the required field "${name}"; add ${example}`,
      pos,
      { field: name, expected: example },
    );
  }

  wrongType(
    attr: { name: string; value: Expr },
    expected: string,
    hint = "",
  ): void {
    const found = describeExpr(attr.value);
    this.report(
      "config.wrong_type",
      `${this.where(attr.name)} must be ${expected}, found ${found}${hint}`,
      attr.value.pos,
      { field: attr.name, expected, found },
    );
  }

  outOfRange(attr: AttributeNode, expected: string, found: string): void {
    this.report(
      "config.out_of_range",
      `${this.where(attr.name)} must be ${expected}, found ${found}`,
      attr.value.pos,
      { field: attr.name, expected, found },
    );
  }

  string(
    name: string,
    options: { interpolation?: boolean } = {},
  ): { value: string; attr: AttributeNode } | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    const expr = attr.value;
    if (expr.kind !== "string") {
      const hint = expr.kind === "ident"
        ? `; put it in quotes: "${expr.name}"`
        : expr.kind === "number"
        ? `; put it in quotes: "${expr.raw}"`
        : "";
      this.wrongType(attr, "a string", hint);
      return undefined;
    }
    if (options.interpolation !== true && !this.#noInterpolation(attr, expr)) {
      return undefined;
    }
    return { value: expr.value, attr };
  }

  #noInterpolation(attr: AttributeNode, expr: Expr & { kind: "string" }) {
    const first = findInterpolations(expr.value)[0];
    if (first === undefined) return true;
    this.report(
      "config.bad_interpolation",
      `${
        this.where(attr.name)
      } cannot hold "${first.text}": interpolation is only allowed in env values; write $\${ for a literal "\${"`,
      interpolationPos(expr, first.text),
      { field: attr.name, expected: "a literal string", found: first.text },
    );
    return false;
  }

  number(
    name: string,
    options: {
      integer: boolean;
      min: number;
      max: number;
      minExclusive?: boolean;
    },
  ): number | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    const expr = attr.value;
    const expected = options.integer ? "an integer" : "a number";
    if (expr.kind !== "number") {
      const numeric = expr.kind === "string" &&
        /^-?\d+(\.\d+)?$/.test(expr.value);
      this.wrongType(attr, expected, numeric ? "; remove the quotes" : "");
      return undefined;
    }
    if (options.integer && !Number.isInteger(expr.value)) {
      this.wrongType(attr, expected);
      return undefined;
    }
    const low = options.minExclusive === true
      ? expr.value <= options.min
      : expr.value < options.min;
    if (low || expr.value > options.max) {
      const expectedRange = options.minExclusive === true
        ? `more than ${options.min} and at most ${options.max}`
        : `between ${options.min} and ${options.max}`;
      this.outOfRange(attr, expectedRange, expr.raw);
      return undefined;
    }
    return expr.value;
  }

  bool(name: string): boolean | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    if (attr.value.kind === "bool") return attr.value.value;
    const text = attr.value.kind === "string" ? attr.value.value : "";
    const hint = text === "true" || text === "false"
      ? "; remove the quotes"
      : "";
    this.wrongType(attr, "true or false", hint);
    return undefined;
  }

  /** Bytes of a size field, at least `minBytes`. */
  size(name: string, minBytes: number): number | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    if (attr.value.kind === "number") {
      this.wrongType(
        attr,
        'a size string like "512M"',
        `; write it with a unit, e.g. "${attr.value.raw}M" or "${attr.value.raw}Mi"`,
      );
      return undefined;
    }
    const text = this.string(name);
    if (text === undefined) return undefined;
    const parsed = parseSize(text.value);
    if (!parsed.ok) {
      this.report(
        "config.bad_size",
        `${this.where(name)} ${parsed.reason}, found "${text.value}"`,
        attr.value.pos,
        {
          field: name,
          expected: 'a size like "512M" or "1.5Gi"',
          found: text.value,
        },
      );
      return undefined;
    }
    if (parsed.value < minBytes) {
      this.outOfRange(
        attr,
        `at least "${formatSize(minBytes)}"`,
        `"${text.value}"`,
      );
      return undefined;
    }
    return parsed.value;
  }

  /** Milliseconds of a duration field within [minMs, maxMs]. */
  duration(name: string, minMs: number, maxMs: number): number | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    if (attr.value.kind === "number") {
      this.wrongType(
        attr,
        'a duration string like "5s"',
        `; write it with a unit, e.g. "${attr.value.raw}s"`,
      );
      return undefined;
    }
    const text = this.string(name);
    if (text === undefined) return undefined;
    const parsed = parseDuration(text.value);
    if (!parsed.ok) {
      this.report(
        "config.bad_duration",
        `${this.where(name)} ${parsed.reason}, found "${text.value}"`,
        attr.value.pos,
        {
          field: name,
          expected: 'a duration like "5s" or "1m30s"',
          found: text.value,
        },
      );
      return undefined;
    }
    if (parsed.value < minMs || parsed.value > maxMs) {
      this.outOfRange(
        attr,
        `between "${formatDuration(minMs)}" and "${formatDuration(maxMs)}"`,
        `"${text.value}"`,
      );
      return undefined;
    }
    return parsed.value;
  }

  /** One of `choices`, with a did-you-mean. */
  choice<T extends string>(
    name: string,
    choices: readonly T[],
  ): T | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    const expr = attr.value;
    const text = expr.kind === "string"
      ? expr.value
      : expr.kind === "ident"
      ? expr.name
      : undefined;
    const expected = `one of ${choices.map((c) => `"${c}"`).join(", ")}`;
    if (text === undefined) {
      this.wrongType(attr, expected);
      return undefined;
    }
    const match = choices.find((c) => c === text);
    if (match !== undefined && expr.kind === "string") return match;
    if (match !== undefined) {
      this.wrongType(attr, expected, `; put it in quotes: "${text}"`);
      return undefined;
    }
    const near = suggest(text, choices);
    this.report(
      "config.bad_value",
      `${this.where(name)} must be ${expected}, found "${text}"${
        near === undefined ? "" : `; did you mean "${near}"?`
      }`,
      expr.pos,
      { field: name, expected, found: text },
    );
    return undefined;
  }

  stringList(name: string): string[] | undefined {
    const attr = this.attribute(name);
    if (attr === undefined) return undefined;
    const expr = attr.value;
    if (expr.kind !== "list") {
      const hint = expr.kind === "string"
        ? `; write ${name} = [${
          expr.raw.startsWith('"') ? expr.raw : JSON.stringify(expr.value)
        }]`
        : "";
      this.wrongType(attr, "a list of strings", hint);
      return undefined;
    }
    const values: string[] = [];
    for (const item of expr.items) {
      if (item.value.kind !== "string") {
        const found = describeExpr(item.value);
        this.report(
          "config.wrong_type",
          `${this.where(name)} must be a list of strings, found ${found} in it`,
          item.value.pos,
          { field: name, expected: "a string", found },
        );
        return undefined;
      }
      values.push(item.value.value);
    }
    return values;
  }

  /**
   * A map written as a block (`env { A = "1" }`) or as an attribute
   * (`env = { A = "1" }`); duplicate keys and non-scalar values reported.
   */
  mapEntries(name: string): MapEntry[] {
    const entries: MapEntry[] = [];
    const sources: { pos: Position; entries: MapEntry[] }[] = [];
    for (const block of this.blocks(name)) {
      sources.push({ pos: block.pos, entries: this.#blockEntries(block) });
    }
    const attr = this.attribute(name);
    if (attr !== undefined) {
      if (attr.value.kind === "object") {
        sources.push({
          pos: attr.pos,
          entries: attr.value.entries.map((e) => ({
            key: e.key,
            keyPos: e.keyPos,
            value: e.value,
          })),
        });
      } else {
        this.wrongType(attr, `a map like ${name} { KEY = "value" }`);
      }
    }
    sources.sort((a, b) =>
      a.pos.line - b.pos.line || a.pos.column - b.pos.column
    );
    const seen = new Map<string, Position>();
    for (const [index, source] of sources.entries()) {
      if (index > 0) {
        this.report(
          "config.duplicate_field",
          `Field "${name}" is set twice in ${this.scope.label}; merge the two into one`,
          source.pos,
          { field: name },
        );
        continue;
      }
      for (const entry of source.entries) {
        const first = seen.get(entry.key);
        if (first !== undefined) {
          this.report(
            "config.duplicate_field",
            `Key "${entry.key}" is set twice in ${name} of ${this.scope.label} (first at ${first.line}:${first.column}); keep one`,
            entry.keyPos,
            { field: `${name}.${entry.key}` },
          );
          continue;
        }
        seen.set(entry.key, entry.keyPos);
        entries.push(entry);
      }
    }
    return entries;
  }

  #blockEntries(block: BlockNode): MapEntry[] {
    const first = block.labels[0];
    if (first !== undefined) {
      this.report(
        "config.extra_label",
        `Block "${block.type}" of ${this.scope.label} takes no label, found "${first.value}"; write ${block.type} { KEY = "value" }`,
        first.pos,
        { field: block.type, found: first.value },
      );
    }
    const entries: MapEntry[] = [];
    for (const item of block.body) {
      if (item.kind === "block") {
        this.report(
          "config.wrong_type",
          `${
            capitalize(block.type)
          } of ${this.scope.label} holds KEY = "value" lines, found the block "${item.type}"`,
          item.pos,
          {
            field: block.type,
            expected: 'KEY = "value"',
            found: `block ${item.type}`,
          },
        );
      } else if (item.kind === "attribute") {
        entries.push({ key: item.name, keyPos: item.pos, value: item.value });
      }
    }
    return entries;
  }

  /** Reports every field and block nobody read. */
  finish(): void {
    const known = [
      ...new Set([...this.#spec.attributes, ...this.#spec.blocks]),
    ];
    for (const item of this.#order) {
      const isBlock = item.kind === "block";
      const name = isBlock ? item.type : item.name;
      const used = isBlock ? this.#usedBlocks : this.#usedAttributes;
      if (used.has(name)) continue;
      const refused = this.#spec.refused?.[name];
      if (refused !== undefined) {
        this.report(refused.code, refused.message, item.pos, { field: name });
      } else if (isBlock && this.#spec.attributes.includes(name)) {
        this.report(
          "config.wrong_type",
          `${this.where(name)} is a field, not a block; write ${name} = …`,
          item.pos,
          { field: name, expected: `${name} = …`, found: "a block" },
        );
      } else if (!isBlock && this.#spec.blocks.includes(name)) {
        this.report(
          "config.wrong_type",
          `"${name}" in ${this.scope.label} is a block, not a field; write ${name} { … }`,
          item.pos,
          { field: name, expected: `${name} { … }`, found: "a field" },
        );
      } else {
        this.#unknown(item, name, known);
      }
    }
  }

  #unknown(item: AttributeNode | BlockNode, name: string, known: string[]) {
    const isBlock = item.kind === "block";
    const near = suggest(name, known);
    const what = isBlock ? "block" : "field";
    const listed = known.length === 0 ? "" : `; known are ${known.join(", ")}`;
    const hint = near === undefined ? listed : `; did you mean "${near}"?`;
    const inside = this.scope.path === ""
      ? "at the top level"
      : `in ${this.scope.label}`;
    this.report(
      isBlock ? "config.unknown_block" : "config.unknown_field",
      `Unknown ${what} "${name}" ${inside}${hint}`,
      item.pos,
      {
        field: name,
        found: name,
        ...(near === undefined ? {} : { expected: near }),
      },
    );
  }
}

/** Where `${…}` sits in the source, when the string is a one-line literal. */
export function interpolationPos(
  expr: Expr & { kind: "string" },
  text: string,
): Position {
  const at = expr.heredoc ? -1 : expr.raw.indexOf(text);
  return at === -1
    ? expr.pos
    : { line: expr.pos.line, column: expr.pos.column + at };
}
