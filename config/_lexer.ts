/**
 * The `.mill` lexer: source text to tokens with positions. Comments and
 * newlines are tokens too, because newlines end attributes and `mill fmt`
 * keeps comments. Never throws on bad input: problems become diagnostics and
 * the lexer carries on after them.
 */

import type { ConfigErrorCode } from "./diagnostic.ts";
import { assert } from "./_assert.ts";

export type TokenKind =
  | "ident"
  | "string"
  | "heredoc"
  | "number"
  | "punct"
  | "newline"
  | "comment"
  | "eof";

export interface Token {
  readonly kind: TokenKind;
  /** The source text of the token. */
  readonly text: string;
  /** Decoded value of a string or heredoc (escapes applied, `${…}` kept). */
  readonly value: string;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** Line on which the token ends (heredocs and block comments span lines). */
  readonly endLine: number;
}

export interface LexProblem {
  readonly code: ConfigErrorCode;
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly found?: string;
}

const PUNCT = "{}[]()=,;:-";
const ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  r: "\r",
  t: "\t",
  '"': '"',
  "\\": "\\",
};

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}

function isIdentPart(c: string): boolean {
  return isIdentStart(c) || isDigit(c) || c === "-";
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Splits `source` into tokens; the last token is always `eof`. */
export function lex(
  source: string,
): { tokens: Token[]; problems: LexProblem[] } {
  return new Lexer(source).run();
}

class Lexer {
  readonly #src: string;
  #pos = 0;
  #line = 1;
  #lineStart = 0;
  readonly #tokens: Token[] = [];
  readonly #problems: LexProblem[] = [];

  constructor(source: string) {
    this.#src = source;
  }

  run(): { tokens: Token[]; problems: LexProblem[] } {
    const src = this.#src;
    while (this.#pos < src.length) {
      const before = this.#pos;
      this.#step(src);
      assert(this.#pos > before, "each lexer step consumes a character");
    }
    this.#push("eof", this.#pos, this.#pos, "");
    return { tokens: this.#tokens, problems: this.#problems };
  }

  #step(src: string): void {
    const c = src[this.#pos] ?? "";
    if (c === " " || c === "\t" || c === "\r" || c === "\uFEFF") {
      this.#pos++;
    } else if (c === "\n") {
      this.#push("newline", this.#pos, this.#pos + 1, "\n");
      this.#pos++;
      this.#line++;
      this.#lineStart = this.#pos;
    } else if (c === "#" || src.startsWith("//", this.#pos)) {
      this.#lineComment();
    } else if (src.startsWith("/*", this.#pos)) {
      this.#blockComment();
    } else if (c === '"') {
      this.#string();
    } else if (c === "'") {
      this.#singleQuoted();
    } else if (src.startsWith("<<", this.#pos)) {
      this.#heredoc();
    } else if (isDigit(c)) {
      this.#number();
    } else if (isIdentStart(c)) {
      const start = this.#pos;
      while (this.#pos < src.length && isIdentPart(src[this.#pos] ?? "")) {
        this.#pos++;
      }
      this.#push("ident", start, this.#pos, "");
    } else if (PUNCT.includes(c)) {
      this.#push("punct", this.#pos, this.#pos + 1, "");
      this.#pos++;
    } else {
      this.#invalidCharacter();
    }
  }

  #column(offset: number): number {
    return offset - this.#lineStart + 1;
  }

  #push(kind: TokenKind, start: number, end: number, value: string): void {
    this.#pushAt(kind, start, end, value, this.#line, this.#column(start));
  }

  #pushAt(
    kind: TokenKind,
    start: number,
    end: number,
    value: string,
    line: number,
    column: number,
  ): void {
    const text = this.#src.slice(start, end);
    this.#tokens.push({
      kind,
      text,
      value,
      offset: start,
      line,
      column,
      endLine: this.#line,
    });
  }

  #problem(
    code: ConfigErrorCode,
    message: string,
    line: number,
    column: number,
    found?: string,
  ): void {
    this.#problems.push(
      found === undefined
        ? { code, message, line, column }
        : { code, message, line, column, found },
    );
  }

  #invalidCharacter(): void {
    const c = String.fromCodePoint(this.#src.codePointAt(this.#pos) ?? 0);
    const shown = JSON.stringify(c);
    const hint = c === "'"
      ? "; strings use double quotes"
      : "; remove it or put it inside a quoted string";
    this.#problem(
      "config.invalid_character",
      `Unexpected character ${shown}${hint}`,
      this.#line,
      this.#column(this.#pos),
      c,
    );
    this.#pos += c.length;
  }

  /** 'text' is an error, but lexed as a string to avoid follow-up errors. */
  #singleQuoted(): void {
    const start = this.#pos;
    const newline = this.#src.indexOf("\n", start);
    const close = this.#src.indexOf("'", start + 1);
    if (close === -1 || (newline !== -1 && close > newline)) {
      this.#invalidCharacter();
      return;
    }
    const text = this.#src.slice(start + 1, close);
    this.#problem(
      "config.invalid_character",
      `Strings use double quotes; write ${JSON.stringify(text)}`,
      this.#line,
      this.#column(start),
      `'${text}'`,
    );
    this.#push("string", start, close + 1, text);
    this.#pos = close + 1;
  }

  #lineComment(): void {
    const start = this.#pos;
    const end = this.#src.indexOf("\n", start);
    this.#pos = end === -1 ? this.#src.length : end;
    // A trailing "\r" of a CRLF file is not part of the comment.
    let stop = this.#pos;
    if (this.#src[stop - 1] === "\r") stop--;
    this.#push("comment", start, stop, "");
  }

  #blockComment(): void {
    const start = this.#pos;
    const line = this.#line;
    const column = this.#column(start);
    const close = this.#src.indexOf("*/", start + 2);
    if (close === -1) {
      this.#problem(
        "config.unterminated_comment",
        'Comment opened with "/*" is never closed; add "*/"',
        line,
        column,
      );
      this.#advanceTo(this.#src.length);
      return;
    }
    this.#advanceTo(close + 2);
    this.#pushAt("comment", start, this.#pos, "", line, column);
  }

  /** Moves to `end`, counting the newlines passed. */
  #advanceTo(end: number): void {
    for (let i = this.#pos; i < end; i++) {
      if (this.#src[i] === "\n") {
        this.#line++;
        this.#lineStart = i + 1;
      }
    }
    this.#pos = end;
  }

  #number(): void {
    const src = this.#src;
    const start = this.#pos;
    while (isDigit(src[this.#pos] ?? "")) this.#pos++;
    if (src[this.#pos] === "." && isDigit(src[this.#pos + 1] ?? "")) {
      this.#pos++;
      while (isDigit(src[this.#pos] ?? "")) this.#pos++;
    }
    const e = src[this.#pos];
    if (e === "e" || e === "E") {
      let i = this.#pos + 1;
      if (src[i] === "+" || src[i] === "-") i++;
      if (isDigit(src[i] ?? "")) {
        while (isDigit(src[i] ?? "")) i++;
        this.#pos = i;
      }
    }
    this.#push("number", start, this.#pos, "");
  }

  /** A quoted string; `${…}` (with nested strings) and `$${` stay verbatim. */
  #string(): void {
    const src = this.#src;
    const start = this.#pos;
    let value = "";
    let i = start + 1;
    let depth = 0;
    let inner = false; // inside a string nested in an interpolation
    while (i < src.length) {
      const c = src[i] ?? "";
      if (c === "\n") break;
      if (c === "\\") {
        const decoded = this.#escape(i, depth > 0);
        value += decoded.text;
        i = decoded.end;
        continue;
      }
      if (depth === 0) {
        if (c === '"') {
          this.#push("string", start, i + 1, value);
          this.#pos = i + 1;
          return;
        }
        if (src.startsWith("$${", i)) {
          value += "$${";
          i += 3;
          continue;
        }
        if (src.startsWith("${", i)) {
          depth = 1;
          value += "${";
          i += 2;
        } else {
          value += c;
          i++;
        }
        continue;
      }
      value += c;
      i++;
      if (c === '"') inner = !inner;
      else if (!inner && c === "{") depth++;
      else if (!inner && c === "}") depth--;
    }
    this.#problem(
      "config.unterminated_string",
      "String is never closed; add the closing quote on the same line",
      this.#line,
      this.#column(start),
    );
    // Still a string, so that the parser does not report a missing value.
    this.#push("string", start, i, value);
    this.#pos = i;
  }

  /** Decodes the escape at `at`; inside `${…}` it is kept as written. */
  #escape(at: number, verbatim: boolean): { text: string; end: number } {
    const src = this.#src;
    const c = src[at + 1] ?? "";
    if (verbatim) return { text: src.slice(at, at + 2), end: at + 2 };
    const simple = ESCAPES[c];
    if (simple !== undefined) return { text: simple, end: at + 2 };
    const width = c === "u" ? 4 : c === "U" ? 8 : 0;
    if (width > 0) {
      const hex = src.slice(at + 2, at + 2 + width);
      const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === width
        ? parseInt(hex, 16)
        : -1;
      if (code >= 0 && code <= 0x10ffff) {
        return { text: String.fromCodePoint(code), end: at + 2 + width };
      }
    }
    const shown = c === "\n" || c === "" ? "\\" : `\\${c}`;
    this.#problem(
      "config.invalid_escape",
      `Unknown escape "${shown}" in string; use \\n, \\r, \\t, \\", \\\\, \\uNNNN or \\UNNNNNNNN`,
      this.#line,
      this.#column(at),
      shown,
    );
    return { text: "", end: c === "\n" || c === "" ? at + 1 : at + 2 };
  }

  /** `<<EOF` or `<<-EOF` (indented) up to a line holding only `EOF`. */
  #heredoc(): void {
    const src = this.#src;
    const start = this.#pos;
    const line = this.#line;
    const column = this.#column(start);
    const header = /^<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n/.exec(
      src.slice(start, start + 200),
    );
    if (header === null) {
      this.#problem(
        "config.syntax",
        'Heredoc must start with "<<NAME" (or "<<-NAME") followed by a newline',
        line,
        column,
        "<<",
      );
      this.#pos += 2;
      return;
    }
    const indented = header[1] === "-";
    const marker = header[2] ?? "";
    const lines: string[] = [];
    let i = start + header[0].length;
    while (i <= src.length) {
      const nl = src.indexOf("\n", i);
      const end = nl === -1 ? src.length : nl;
      const text = src.slice(i, end).replace(/\r$/, "");
      if (text.trim() === marker) {
        this.#advanceTo(end);
        this.#pushAt(
          "heredoc",
          start,
          end,
          heredocValue(lines, indented),
          line,
          column,
        );
        return;
      }
      lines.push(text);
      if (nl === -1) break;
      i = nl + 1;
    }
    this.#problem(
      "config.unterminated_heredoc",
      `Heredoc is never closed; end it with a line holding only "${marker}"`,
      line,
      column,
    );
    this.#advanceTo(src.length);
    this.#pushAt("heredoc", start, src.length, "", line, column);
  }
}

function heredocValue(lines: readonly string[], indented: boolean): string {
  if (!indented) return lines.map((l) => l + "\n").join("");
  let strip = Infinity;
  for (const l of lines) {
    if (l.trim() === "") continue;
    strip = Math.min(strip, l.length - l.trimStart().length);
  }
  if (strip === Infinity) strip = 0;
  return lines.map((l) => l.slice(strip) + "\n").join("");
}

/** How a token reads in messages: `a number 3`, `"{"`, `a line break`. */
export function describeToken(tok: Token): string {
  switch (tok.kind) {
    case "eof":
      return "the end of the file";
    case "newline":
      return "a line break";
    case "string":
    case "heredoc":
      return `a string ${tok.text.length > 40 ? "" : tok.text}`.trimEnd();
    case "number":
      return `a number ${tok.text}`;
    case "comment":
      return "a comment";
    default:
      return `"${tok.text}"`;
  }
}
