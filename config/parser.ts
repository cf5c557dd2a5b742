/**
 * Recursive-descent parser for the `.mill` dialect of HCL: tokens to a
 * concrete syntax tree with positions and comments. Attributes end at a
 * newline, a `;` or the `}` of a one-line block. It never throws on bad input:
 * each syntax error becomes a problem, the parser skips to the end of the
 * broken item and carries on, so all errors of a file come out together.
 */

import { describeToken, lex, type LexProblem, type Token } from "./_lexer.ts";
import { assert } from "./_assert.ts";
import type {
  AttributeNode,
  BlockNode,
  BodyItem,
  CommentNode,
  Expr,
  LabelNode,
  ListExpr,
  ListItem,
  ObjectEntry,
  ObjectExpr,
  Position,
} from "./cst.ts";

/** Blocks and values nest at most this deep. */
export const NESTING_DEPTH_MAX = 32;
/** Parsing stops after this many problems. */
export const PROBLEMS_MAX = 100;

export type SyntaxProblem = LexProblem;

export interface SyntaxTree {
  readonly body: readonly BodyItem[];
  readonly problems: readonly SyntaxProblem[];
}

/** Parses `source` into a tree; `problems` is empty when it is well formed. */
export function parseSyntax(source: string): SyntaxTree {
  const { tokens, problems } = lex(source);
  return new Parser(tokens, problems).parseFile();
}

/** Thrown to abandon the item being parsed; caught by the body loop. */
class ParseFailure extends Error {
  override name = "ParseFailure";
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const CLOSERS: Readonly<Record<string, string>> = {
  "}": "{",
  "]": "[",
  ")": "(",
};

class Parser {
  readonly #tokens: readonly Token[];
  readonly #problems: SyntaxProblem[];
  #i = 0;
  #depth = 0;
  #lastEndLine = 1;
  #stray: CommentNode[] = [];
  #reportedUnclosed = false;
  #stopped = false;

  readonly #lexProblems: number;

  constructor(tokens: readonly Token[], problems: SyntaxProblem[]) {
    this.#tokens = tokens;
    this.#problems = problems;
    this.#lexProblems = problems.length;
  }

  parseFile(): SyntaxTree {
    const { items } = this.#body(null);
    return { body: items, problems: this.#problems };
  }

  #peek(): Token {
    const tok = this.#tokens[this.#i] ?? this.#tokens[this.#tokens.length - 1];
    if (tok === undefined) throw new Error("lexer returned no tokens");
    return tok;
  }

  #advance(): Token {
    const tok = this.#peek();
    if (tok.kind !== "eof") this.#i++;
    if (tok.kind !== "comment" && tok.kind !== "newline") {
      this.#lastEndLine = tok.endLine;
    }
    return tok;
  }

  #is(text: string): boolean {
    const tok = this.#peek();
    return tok.kind === "punct" && tok.text === text;
  }

  #problem(message: string, tok: Token, code: SyntaxProblem["code"]): void {
    this.#problems.push({
      code,
      message,
      line: tok.line,
      column: tok.column,
      found: describeToken(tok),
    });
    if (this.#problems.length >= PROBLEMS_MAX && !this.#stopped) {
      this.#stopped = true;
      this.#problems.push({
        code: "config.too_many_errors",
        message:
          `Stopped after ${PROBLEMS_MAX} errors; fix these and run again`,
        line: tok.line,
        column: tok.column,
      });
      this.#i = this.#tokens.length - 1;
    }
  }

  #fail(
    message: string,
    tok: Token = this.#peek(),
    code: SyntaxProblem["code"] = "config.syntax",
  ): never {
    this.#problem(message, tok, code);
    throw new ParseFailure(message);
  }

  #comment(tok: Token, blankBefore: boolean): CommentNode {
    return {
      kind: "comment",
      text: tok.text,
      pos: { line: tok.line, column: tok.column },
      endLine: tok.endLine,
      blankBefore,
    };
  }

  #skipComments(): void {
    while (this.#peek().kind === "comment") {
      this.#stray.push(this.#comment(this.#advance(), false));
    }
  }

  #takeStray(): CommentNode[] {
    const taken = this.#stray;
    this.#stray = [];
    return taken;
  }

  /** Items until `}` (when `open` is a block's brace) or the end of file. */
  #body(open: Token | null): { items: BodyItem[]; close: Token | null } {
    const items: Mutable<BodyItem>[] = [];
    let lastLine = -1;
    let before = -1;
    for (;;) {
      assert(this.#i > before, "each step of a body consumes a token");
      before = this.#i;
      const tok = this.#peek();
      const prev = items[items.length - 1];
      const blankBefore = items.length > 0 && tok.line > lastLine + 1;
      if (
        tok.kind === "newline" || (tok.kind === "punct" && tok.text === ";")
      ) {
        this.#advance();
      } else if (tok.kind === "eof") {
        // A lexer error (an unclosed string or comment) often swallows the
        // "}", so the block's error would only repeat it.
        const lexerFailed = this.#lexProblems > 0;
        if (open !== null && !this.#reportedUnclosed && !lexerFailed) {
          this.#reportedUnclosed = true;
          this.#problem(
            'Block opened here is never closed; add "}"',
            open,
            "config.unclosed_block",
          );
        }
        return { items, close: null };
      } else if (tok.kind === "punct" && tok.text === "}") {
        this.#advance();
        if (open !== null) return { items, close: tok };
        this.#problem(
          'Unexpected "}" with no block open; remove it',
          tok,
          "config.syntax",
        );
      } else if (tok.kind === "comment") {
        this.#advance();
        if (
          prev !== undefined && prev.kind !== "comment" &&
          prev.trailing === undefined && tok.line === prev.endLine
        ) {
          prev.trailing = this.#comment(tok, false);
        } else {
          items.push(this.#comment(tok, blankBefore));
        }
        lastLine = tok.endLine;
      } else if (tok.kind === "ident") {
        const item = this.#item(blankBefore);
        if (item !== null) {
          item.sameLine = prev?.kind === "attribute" &&
            prev.trailing === undefined && prev.endLine === item.pos.line;
          items.push(item);
          lastLine = item.trailing?.endLine ?? item.endLine;
        } else {
          lastLine = this.#lastEndLine;
        }
      } else {
        const start = this.#i;
        this.#problem(
          `Expected a field name or a block, found ${describeToken(tok)}`,
          tok,
          "config.syntax",
        );
        this.#recover(start);
        if (this.#i === start) this.#advance();
      }
    }
  }

  /** An attribute or a block; null after a syntax error (recovered). */
  #item(blankBefore: boolean): Mutable<AttributeNode | BlockNode> | null {
    const start = this.#i;
    try {
      const name = this.#advance();
      this.#skipComments();
      if (this.#is("=")) return this.#attribute(name, blankBefore);
      const next = this.#peek();
      if (next.kind === "string" || next.kind === "ident" || this.#is("{")) {
        return this.#block(name, blankBefore);
      }
      if (this.#is(":")) {
        this.#fail(
          `Expected "=" after "${name.text}", found ":"; write ${name.text} = …`,
        );
      }
      return this.#fail(
        `Expected "=" or "{" after "${name.text}", found ${
          describeToken(next)
        }`,
      );
    } catch (err) {
      if (!(err instanceof ParseFailure)) throw err;
      this.#stray = [];
      this.#recover(start);
      return null;
    }
  }

  #attribute(name: Token, blankBefore: boolean): Mutable<AttributeNode> {
    this.#advance(); // "="
    const value = this.#expr();
    const endLine = this.#lastEndLine;
    const trailing = this.#endOfItem(`the value of "${name.text}"`);
    const node: Mutable<AttributeNode> = {
      kind: "attribute",
      name: name.text,
      value,
      pos: { line: name.line, column: name.column },
      endLine,
      blankBefore,
      sameLine: false,
      leading: this.#takeStray(),
    };
    if (trailing !== undefined) node.trailing = trailing;
    return node;
  }

  #block(type: Token, blankBefore: boolean): Mutable<BlockNode> {
    const labels: LabelNode[] = [];
    for (;;) {
      this.#skipComments();
      const tok = this.#peek();
      if (tok.kind !== "string" && tok.kind !== "ident") break;
      this.#advance();
      labels.push({
        value: tok.kind === "string" ? tok.value : tok.text,
        raw: tok.text,
        pos: { line: tok.line, column: tok.column },
      });
    }
    if (!this.#is("{")) {
      this.#fail(
        `Expected "{" to open the "${type.text}" block, found ${
          describeToken(this.#peek())
        }`,
      );
    }
    const open = this.#advance();
    const leading = this.#takeStray();
    this.#enter(open);
    const { items, close } = this.#body(open);
    this.#depth--;
    const endLine = this.#lastEndLine;
    const node: Mutable<BlockNode> = {
      kind: "block",
      type: type.text,
      labels,
      body: items,
      oneLine: close !== null && close.line === open.line,
      pos: { line: type.line, column: type.column },
      endLine,
      blankBefore,
      sameLine: false,
      leading,
    };
    if (close === null) return node;
    try {
      const trailing = this.#endOfItem(`the "}" of the "${type.text}" block`);
      if (trailing !== undefined) node.trailing = trailing;
    } catch (err) {
      if (!(err instanceof ParseFailure)) throw err;
      this.#recover(this.#i);
    }
    return node;
  }

  #enter(tok: Token): void {
    this.#depth++;
    if (this.#depth > NESTING_DEPTH_MAX) {
      this.#depth = 0;
      this.#fail(
        `Nesting is deeper than ${NESTING_DEPTH_MAX} levels; flatten the config`,
        tok,
        "config.too_deep",
      );
    }
  }

  /** A same-line trailing comment, then a newline, `;`, `}` or the end. */
  #endOfItem(what: string): CommentNode | undefined {
    let trailing: CommentNode | undefined;
    const tok = this.#peek();
    if (tok.kind === "comment" && tok.line === this.#lastEndLine) {
      trailing = this.#comment(this.#advance(), false);
    }
    const next = this.#peek();
    if (
      next.kind === "newline" || next.kind === "eof" ||
      (next.kind === "punct" && (next.text === ";" || next.text === "}"))
    ) {
      return trailing;
    }
    if (next.kind === "comment") return trailing;
    return this.#fail(
      `Expected a line break or ";" after ${what}, found ${
        describeToken(next)
      }`,
      next,
    );
  }

  /**
   * Skips from token `from` to the end of the broken item: the next line
   * break or `;` outside brackets, or a closer that was opened before `from`.
   */
  #recover(from: number): void {
    this.#i = from;
    const stack: string[] = [];
    for (;;) {
      const tok = this.#peek();
      if (tok.kind === "eof") return;
      if (
        stack.length === 0 &&
        (tok.kind === "newline" || (tok.kind === "punct" && tok.text === ";"))
      ) {
        return;
      }
      if (tok.kind === "punct") {
        const opener = CLOSERS[tok.text];
        if ("{[(".includes(tok.text)) {
          stack.push(tok.text);
        } else if (opener !== undefined) {
          const at = stack.lastIndexOf(opener);
          if (at === -1) return;
          stack.length = at;
        }
      }
      this.#advance();
    }
  }

  #position(tok: Token): Position {
    return { line: tok.line, column: tok.column };
  }

  #expr(): Expr {
    this.#skipComments();
    const tok = this.#peek();
    const pos = this.#position(tok);
    if (tok.kind === "string" || tok.kind === "heredoc") {
      this.#advance();
      return {
        kind: "string",
        value: tok.value,
        raw: tok.text,
        heredoc: tok.kind === "heredoc",
        pos,
        endLine: tok.endLine,
      };
    }
    if (tok.kind === "number") {
      this.#advance();
      return {
        kind: "number",
        value: Number(tok.text),
        raw: tok.text,
        pos,
        endLine: tok.line,
      };
    }
    if (this.#is("-")) return this.#negative(tok);
    if (tok.kind === "ident") return this.#word(tok);
    if (this.#is("[")) return this.#list(tok);
    if (this.#is("{")) return this.#object(tok);
    return this.#fail(`Expected a value, found ${describeToken(tok)}`);
  }

  #negative(minus: Token): Expr {
    this.#advance();
    const tok = this.#peek();
    if (tok.kind !== "number") {
      this.#fail(`Expected a number after "-", found ${describeToken(tok)}`);
    }
    this.#advance();
    return {
      kind: "number",
      value: -Number(tok.text),
      raw: `-${tok.text}`,
      pos: this.#position(minus),
      endLine: tok.line,
    };
  }

  #word(tok: Token): Expr {
    this.#advance();
    const pos = this.#position(tok);
    const endLine = tok.line;
    if (this.#is("(")) {
      this.#fail(
        `Function calls like "${tok.text}(…)" are not supported; write a literal value`,
      );
    }
    if (tok.text === "true" || tok.text === "false") {
      return { kind: "bool", value: tok.text === "true", pos, endLine };
    }
    if (tok.text === "null") return { kind: "null", pos, endLine };
    return { kind: "ident", name: tok.text, pos, endLine };
  }

  #list(open: Token): ListExpr {
    this.#advance();
    this.#enter(open);
    const items: Mutable<ListItem>[] = [];
    let pending: CommentNode[] = [];
    let multiline = false;
    let needComma = false;
    for (;;) {
      const tok = this.#peek();
      const last = items[items.length - 1];
      if (tok.kind === "newline") {
        multiline = true;
        this.#advance();
      } else if (tok.kind === "comment") {
        this.#advance();
        this.#collectItemComment(tok, last, pending);
      } else if (this.#is("]")) {
        this.#advance();
        break;
      } else if (this.#is(",") && needComma) {
        this.#advance();
        needComma = false;
      } else if (tok.kind === "eof" || needComma) {
        this.#fail(
          `Expected "," or "]" in the list opened at ${open.line}:${open.column}, found ${
            describeToken(tok)
          }`,
          tok,
        );
      } else {
        items.push({ value: this.#expr(), leading: pending });
        pending = [];
        needComma = true;
      }
    }
    this.#depth--;
    if (pending.length > 0) multiline = true;
    if (items.some((i) => i.leading.length > 0 || i.trailing !== undefined)) {
      multiline = true;
    }
    return {
      kind: "list",
      items,
      closing: pending,
      multiline,
      pos: this.#position(open),
      endLine: this.#lastEndLine,
    };
  }

  /**
   * A comment inside a list or map: trailing the item it shares a line
   * with, else leading the next item (or closing the collection).
   */
  #collectItemComment(
    tok: Token,
    last: { trailing?: CommentNode } | undefined,
    pending: CommentNode[],
  ): void {
    if (
      last !== undefined && last.trailing === undefined &&
      pending.length === 0 && tok.line === this.#lastEndLine
    ) {
      last.trailing = this.#comment(tok, false);
    } else {
      pending.push(this.#comment(tok, false));
    }
  }

  #object(open: Token): ObjectExpr {
    this.#advance();
    this.#enter(open);
    const entries: Mutable<ObjectEntry>[] = [];
    let pending: CommentNode[] = [];
    let multiline = false;
    let needSeparator = false;
    for (;;) {
      const tok = this.#peek();
      const last = entries[entries.length - 1];
      if (tok.kind === "newline") {
        multiline = true;
        needSeparator = false;
        this.#advance();
      } else if (tok.kind === "comment") {
        this.#advance();
        this.#collectItemComment(tok, last, pending);
      } else if (this.#is("}")) {
        this.#advance();
        break;
      } else if ((this.#is(",") || this.#is(";")) && needSeparator) {
        this.#advance();
        needSeparator = false;
      } else if (tok.kind === "eof" || needSeparator) {
        this.#fail(
          `Expected ",", a line break or "}" in the map opened at ${open.line}:${open.column}, found ${
            describeToken(tok)
          }`,
          tok,
        );
      } else {
        entries.push(this.#entry(pending));
        pending = [];
        needSeparator = true;
      }
    }
    this.#depth--;
    if (pending.length > 0) multiline = true;
    if (entries.some((e) => e.leading.length > 0 || e.trailing !== undefined)) {
      multiline = true;
    }
    return {
      kind: "object",
      entries,
      closing: pending,
      multiline,
      pos: this.#position(open),
      endLine: this.#lastEndLine,
    };
  }

  #entry(leading: CommentNode[]): Mutable<ObjectEntry> {
    const key = this.#peek();
    if (key.kind !== "ident" && key.kind !== "string") {
      this.#fail(`Expected a key in the map, found ${describeToken(key)}`, key);
    }
    this.#advance();
    this.#skipComments();
    if (!this.#is("=") && !this.#is(":")) {
      this.#fail(
        `Expected "=" after the map key ${key.text}, found ${
          describeToken(this.#peek())
        }`,
      );
    }
    this.#advance();
    return {
      key: key.kind === "string" ? key.value : key.text,
      keyRaw: key.text,
      keyPos: this.#position(key),
      value: this.#expr(),
      leading,
    };
  }
}
