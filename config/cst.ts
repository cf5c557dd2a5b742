/**
 * The concrete syntax tree of a `.mill` file: what the parser produces, the
 * validator reads and `mill fmt` prints. It keeps positions and comments.
 */

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units from the start of the line. */
  readonly column: number;
}

export interface CommentNode {
  readonly kind: "comment";
  /** As written, including `#`, `//` or `/* … *\/`. */
  readonly text: string;
  readonly pos: Position;
  readonly endLine: number;
  /** A blank line separates it from what came before. */
  readonly blankBefore: boolean;
}

interface ItemCommon {
  readonly pos: Position;
  readonly endLine: number;
  readonly blankBefore: boolean;
  /** Starts on the line the previous attribute ended on (after a `;`). */
  readonly sameLine: boolean;
  /** Comments found inside the item where fmt cannot keep them in place. */
  readonly leading: readonly CommentNode[];
  /** A comment after the item on its last line. */
  readonly trailing?: CommentNode;
}

/** `name = value`. */
export interface AttributeNode extends ItemCommon {
  readonly kind: "attribute";
  readonly name: string;
  readonly value: Expr;
}

export interface LabelNode {
  readonly value: string;
  /** Source text (a quoted string, or a bare identifier). */
  readonly raw: string;
  readonly pos: Position;
}

/** `type "label" … { body }`. */
export interface BlockNode extends ItemCommon {
  readonly kind: "block";
  readonly type: string;
  readonly labels: readonly LabelNode[];
  readonly body: readonly BodyItem[];
  /** `{` and `}` were on one line. */
  readonly oneLine: boolean;
}

export type BodyItem = AttributeNode | BlockNode | CommentNode;

export type Expr =
  | StringExpr
  | NumberExpr
  | BoolExpr
  | NullExpr
  | IdentExpr
  | ListExpr
  | ObjectExpr;

interface ExprCommon {
  readonly pos: Position;
  readonly endLine: number;
}

export interface StringExpr extends ExprCommon {
  readonly kind: "string";
  /** Escapes decoded; `${…}` and `$${` kept verbatim. */
  readonly value: string;
  readonly raw: string;
  readonly heredoc: boolean;
}

export interface NumberExpr extends ExprCommon {
  readonly kind: "number";
  readonly value: number;
  readonly raw: string;
}

export interface BoolExpr extends ExprCommon {
  readonly kind: "bool";
  readonly value: boolean;
}

export interface NullExpr extends ExprCommon {
  readonly kind: "null";
}

/** A bare word where a value belongs, e.g. `restart = always`. */
export interface IdentExpr extends ExprCommon {
  readonly kind: "ident";
  readonly name: string;
}

export interface ListItem {
  readonly value: Expr;
  readonly leading: readonly CommentNode[];
  readonly trailing?: CommentNode;
}

export interface ListExpr extends ExprCommon {
  readonly kind: "list";
  readonly items: readonly ListItem[];
  /** Comments after the last item, before `]`. */
  readonly closing: readonly CommentNode[];
  readonly multiline: boolean;
}

export interface ObjectEntry {
  readonly key: string;
  readonly keyRaw: string;
  readonly keyPos: Position;
  readonly value: Expr;
  readonly leading: readonly CommentNode[];
  readonly trailing?: CommentNode;
}

/** `{ KEY = value, … }` as an attribute value. */
export interface ObjectExpr extends ExprCommon {
  readonly kind: "object";
  readonly entries: readonly ObjectEntry[];
  readonly closing: readonly CommentNode[];
  readonly multiline: boolean;
}

/** How a value's kind reads in messages: `a string "3000"`, `a list`. */
export function describeExpr(expr: Expr): string {
  switch (expr.kind) {
    case "string":
      return `a string ${JSON.stringify(truncate(expr.value))}`;
    case "number":
      return `a number ${expr.raw}`;
    case "bool":
      return `a bool ${expr.value}`;
    case "null":
      return "null";
    case "ident":
      return `a bare word ${expr.name}`;
    case "list":
      return "a list";
    case "object":
      return "a map";
  }
}

function truncate(text: string): string {
  return text.length > 40 ? text.slice(0, 37) + "..." : text;
}
