import { FQL_FUNCTION_ARITY, isFqlFunctionName, type FqlCompareOp, type FqlNode, type FqlValue } from "./ast.ts";
import { FqlSyntaxError, syntaxErrorAt } from "./errors.ts";
import { GlobSyntaxError, checkGlob } from "./glob.ts";

/*
 * Grammar (lowest precedence first):
 *
 *   expression := "all"                                  (only as the whole, trimmed source)
 *               | or
 *   or         := and ("or" and)*
 *   and        := comparison ("and" comparison)*
 *   comparison := unary [("=" | "!=" | "<" | "<=" | ">" | ">=" | "in") unary]     (non-associative)
 *   unary      := "!" unary | primary
 *   primary    := string | number | "true" | "false" | "null" | list
 *               | path | function "(" [or ("," or)*] ")" | "(" or ")"
 *   list       := "[" [literal ("," literal)*] "]"        (elements are literals, lists may nest)
 *
 * So `!` binds tightest (`!a = b` is `(!a) = b`; write `!(a = b)`), then comparisons, then `and`, then `or`.
 */

const T = {
  String: 0,
  Number: 1,
  Ident: 2, // a path (possibly dotted / escaped) or a function name
  Keyword: 3, // and or in true false null (only as a bare, unescaped, undotted word)
  Op: 4, // = != < <= > >= !
  LParen: 5,
  RParen: 6,
  LBracket: 7,
  RBracket: 8,
  Comma: 9,
  End: 10,
} as const;
type T = (typeof T)[keyof typeof T];

interface Token {
  readonly type: T;
  /** Source offset (UTF-16) of the first character. */
  readonly start: number;
  /** Source offset just past the token. */
  readonly end: number;
  /** Decoded string, keyword/op text, or the raw identifier. */
  readonly text: string;
  readonly number?: number;
  /** Path segments for Ident tokens. */
  readonly segments?: readonly string[];
  /** True if an Ident contains a '.' or a '\' (so it cannot be a keyword or function name). */
  readonly complex?: boolean;
}

const KEYWORDS = new Set(["and", "or", "in", "true", "false", "null"]);
const COMPARE_OPS = new Set<string>(["=", "!=", "<", "<=", ">", ">="]);
const MAX_DEPTH = 200;
const NUMBER = /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f; // a-z A-Z _
}

/** Characters allowed unescaped in a path segment: [A-Za-z0-9_-]. */
function isSegmentChar(c: number): boolean {
  return isIdentStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** 1-based column of a UTF-16 offset, counted in code points. */
function columnOf(source: string, offset: number): number {
  let column = 1;
  for (let i = 0; i < offset && i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < offset) {
      const d = source.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    column++;
  }
  return column;
}

function describe(source: string, token: Token): string {
  if (token.type === T.End) return "end of expression";
  let raw = source.slice(token.start, token.end);
  if (raw.length > 24) raw = `${raw.slice(0, 21)}...`;
  return `'${raw}'`;
}

class Lexer {
  private pos = 0;
  constructor(private readonly src: string) {}

  private error(reason: string, offset: number): FqlSyntaxError {
    return syntaxErrorAt(reason, columnOf(this.src, offset));
  }

  tokenize(): Token[] {
    const tokens: Token[] = [];
    for (;;) {
      const token = this.next();
      tokens.push(token);
      if (token.type === T.End) return tokens;
    }
  }

  private next(): Token {
    const src = this.src;
    while (this.pos < src.length && isSpace(src.charCodeAt(this.pos))) this.pos++;
    const start = this.pos;
    if (start >= src.length) return { type: T.End, start, end: start, text: "" };
    const c = src.charCodeAt(start);
    const simple = (type: T, width: number): Token => {
      this.pos += width;
      return { type, start, end: this.pos, text: src.slice(start, this.pos) };
    };
    switch (c) {
      case 0x28:
        return simple(T.LParen, 1);
      case 0x29:
        return simple(T.RParen, 1);
      case 0x5b:
        return simple(T.LBracket, 1);
      case 0x5d:
        return simple(T.RBracket, 1);
      case 0x2c:
        return simple(T.Comma, 1);
      case 0x3d: // =
        if (src.charCodeAt(start + 1) === 0x3d) throw this.error("unexpected '==' (use '=')", start);
        return simple(T.Op, 1);
      case 0x21: // ! !=
        return simple(T.Op, src.charCodeAt(start + 1) === 0x3d ? 2 : 1);
      case 0x3c: // < <=
      case 0x3e: // > >=
        return simple(T.Op, src.charCodeAt(start + 1) === 0x3d ? 2 : 1);
      case 0x26: // &
        if (src.charCodeAt(start + 1) === 0x26) throw this.error("unexpected '&&' (use 'and')", start);
        break;
      case 0x7c: // |
        if (src.charCodeAt(start + 1) === 0x7c) throw this.error("unexpected '||' (use 'or')", start);
        break;
      case 0x22: // "
      case 0x27: // '
        return this.string(start);
      default:
        if (isDigit(c) || (c === 0x2d && isDigit(src.charCodeAt(start + 1)))) return this.number(start);
        if (isIdentStart(c) || c === 0x5c) return this.ident(start);
    }
    const cp = src.codePointAt(start)!;
    throw this.error(`unexpected '${String.fromCodePoint(cp)}'`, start);
  }

  private string(start: number): Token {
    const src = this.src;
    const quote = src.charCodeAt(start);
    let out = "";
    let i = start + 1;
    let chunk = i;
    for (;;) {
      if (i >= src.length) throw this.error("unterminated string", start);
      const c = src.charCodeAt(i);
      if (c === quote) break;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += src.slice(chunk, i);
      if (i + 1 >= src.length) throw this.error("unterminated string", start);
      const e = src[i + 1]!;
      switch (e) {
        case '"':
        case "'":
        case "\\":
        case "/":
          out += e;
          i += 2;
          break;
        case "n":
          out += "\n";
          i += 2;
          break;
        case "r":
          out += "\r";
          i += 2;
          break;
        case "t":
          out += "\t";
          i += 2;
          break;
        case "b":
          out += "\b";
          i += 2;
          break;
        case "f":
          out += "\f";
          i += 2;
          break;
        case "u": {
          const hex = src.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error("invalid unicode escape in string", i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          break;
        }
        default:
          // Unknown escapes keep their backslash, so glob escapes survive: match(s, 'ab\*d') sees `ab\*d`.
          out += "\\";
          i += 1;
          chunk = i;
          continue;
      }
      chunk = i;
    }
    out += src.slice(chunk, i);
    this.pos = i + 1;
    return { type: T.String, start, end: this.pos, text: out };
  }

  private number(start: number): Token {
    const src = this.src;
    NUMBER.lastIndex = start;
    const m = NUMBER.exec(src);
    const end = start + m![0].length;
    const after = src.charCodeAt(end);
    if (end < src.length && (isSegmentChar(after) || after === 0x2e || after === 0x5c)) {
      throw this.error("invalid number", start);
    }
    const value = Number(m![0]);
    if (!Number.isFinite(value)) throw this.error("number out of range", start);
    this.pos = end;
    return { type: T.Number, start, end, text: m![0], number: value };
  }

  /** Scans a path from `start` (any segment character or `\\` may start it). */
  ident(start: number): Token {
    const src = this.src;
    const segments: string[] = [];
    let segment = "";
    let segmentStart = start;
    let complex = false;
    let i = start;
    for (;;) {
      const c = src.charCodeAt(i);
      if (i < src.length && isSegmentChar(c)) {
        segment += src[i];
        i++;
      } else if (c === 0x5c) {
        if (i + 1 >= src.length) throw this.error("dangling '\\' at end of path", i);
        const cp = src.codePointAt(i + 1)!;
        segment += String.fromCodePoint(cp);
        i += 1 + (cp > 0xffff ? 2 : 1);
        complex = true;
      } else if (c === 0x2e) {
        if (i === segmentStart) throw this.error("expected a field name before '.'", i);
        segments.push(segment);
        segment = "";
        i++;
        segmentStart = i;
        complex = true;
      } else {
        break;
      }
    }
    if (i === segmentStart) {
      if (segments.length > 0 || i >= src.length) throw this.error("expected a field name after '.'", i);
      throw this.error(`unexpected '${String.fromCodePoint(src.codePointAt(i)!)}'`, i);
    }
    segments.push(segment);
    this.pos = i;
    const text = src.slice(start, i);
    const type = !complex && KEYWORDS.has(text) ? T.Keyword : T.Ident;
    return { type, start, end: i, text, segments, complex };
  }
}

class Parser {
  private index = 0;
  private depth = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: readonly Token[],
  ) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private advance(): Token {
    const t = this.tokens[this.index]!;
    if (t.type !== T.End) this.index++;
    return t;
  }

  private col(token: Token): number {
    return columnOf(this.src, token.start);
  }

  private unexpected(token: Token): FqlSyntaxError {
    return syntaxErrorAt(`unexpected ${describe(this.src, token)}`, this.col(token));
  }

  private enter(token: Token): void {
    if (++this.depth > MAX_DEPTH) throw syntaxErrorAt("expression nested too deeply", this.col(token));
  }

  parse(): FqlNode {
    const node = this.parseOr();
    const t = this.peek();
    if (t.type !== T.End) throw this.unexpected(t);
    return node;
  }

  private isKeyword(t: Token, word: string): boolean {
    return t.type === T.Keyword && t.text === word;
  }

  private parseOr(): FqlNode {
    let left = this.parseAnd();
    while (this.isKeyword(this.peek(), "or")) {
      const op = this.advance();
      const right = this.parseAnd();
      left = { kind: "or", left, right, column: this.col(op) };
    }
    return left;
  }

  private parseAnd(): FqlNode {
    let left = this.parseComparison();
    while (this.isKeyword(this.peek(), "and")) {
      const op = this.advance();
      const right = this.parseComparison();
      left = { kind: "and", left, right, column: this.col(op) };
    }
    return left;
  }

  private isComparison(t: Token): boolean {
    return (t.type === T.Op && COMPARE_OPS.has(t.text)) || this.isKeyword(t, "in");
  }

  private parseComparison(): FqlNode {
    const left = this.parseUnary();
    const opToken = this.peek();
    if (!this.isComparison(opToken)) return left;
    this.advance();
    const right = this.parseUnary();
    // Comparisons do not chain: `a = b = c` is an error, write `(a = b) = c`.
    const next = this.peek();
    if (this.isComparison(next)) throw this.unexpected(next);
    const column = this.col(opToken);
    if (opToken.type === T.Keyword) {
      if (right.kind === "literal" && !Array.isArray(right.value)) {
        throw syntaxErrorAt("expected a list after 'in'", right.column);
      }
      return { kind: "in", left, right, column };
    }
    return { kind: "compare", op: opToken.text as FqlCompareOp, left, right, column };
  }

  private parseUnary(): FqlNode {
    const t = this.peek();
    if (t.type === T.Op && t.text === "!") {
      this.advance();
      this.enter(t);
      const operand = this.parseUnary();
      this.depth--;
      return { kind: "not", operand, column: this.col(t) };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): FqlNode {
    const t = this.peek();
    switch (t.type) {
      case T.String:
      case T.Number:
      case T.Keyword:
      case T.LBracket: {
        if (t.type === T.Keyword && (t.text === "and" || t.text === "or" || t.text === "in")) break;
        return { kind: "literal", value: this.parseLiteral(), column: this.col(t) };
      }
      case T.LParen: {
        this.advance();
        this.enter(t);
        const inner = this.parseOr();
        this.depth--;
        this.expect(T.RParen, "')'");
        return inner;
      }
      case T.Ident: {
        this.advance();
        if (this.peek().type === T.LParen) return this.parseCall(t);
        return { kind: "path", segments: t.segments!, column: this.col(t) };
      }
      default:
        break;
    }
    throw this.unexpected(t);
  }

  private expect(type: T, what: string): Token {
    const t = this.peek();
    if (t.type !== type) throw syntaxErrorAt(`expected ${what}`, this.col(t));
    return this.advance();
  }

  private parseLiteral(): FqlValue {
    const t = this.peek();
    switch (t.type) {
      case T.String:
        this.advance();
        return t.text;
      case T.Number:
        this.advance();
        return t.number!;
      case T.Keyword:
        if (t.text === "true" || t.text === "false" || t.text === "null") {
          this.advance();
          return t.text === "null" ? null : t.text === "true";
        }
        break;
      case T.LBracket: {
        this.advance();
        this.enter(t);
        const items: FqlValue[] = [];
        if (this.peek().type !== T.RBracket) {
          for (;;) {
            items.push(this.parseLiteral());
            if (this.peek().type !== T.Comma) break;
            this.advance();
          }
        }
        this.expect(T.RBracket, "']'");
        this.depth--;
        return items;
      }
      default:
        break;
    }
    throw syntaxErrorAt(`expected a literal value in list, found ${describe(this.src, t)}`, this.col(t));
  }

  private parseCall(nameToken: Token): FqlNode {
    const name = nameToken.text;
    const column = this.col(nameToken);
    if (nameToken.complex || !isFqlFunctionName(name)) throw syntaxErrorAt(`unknown function '${name}'`, column);
    const open = this.advance();
    this.enter(open);
    const args: FqlNode[] = [];
    if (this.peek().type !== T.RParen) {
      for (;;) {
        args.push(this.parseOr());
        if (this.peek().type !== T.Comma) break;
        this.advance();
      }
    }
    this.expect(T.RParen, "')'");
    this.depth--;
    const node: FqlNode = { kind: "call", name, args, column };
    validateCall(node);
    return node;
  }
}

/** Checks arity and literal glob patterns of a call node; throws FqlSyntaxError. */
export function validateCall(node: Extract<FqlNode, { kind: "call" }>): void {
  const { name, args, column } = node;
  if (!isFqlFunctionName(name)) throw syntaxErrorAt(`unknown function '${String(name)}'`, column);
  const arity = FQL_FUNCTION_ARITY[name];
  if (args.length !== arity) {
    throw syntaxErrorAt(
      `function '${name}' takes ${arity} argument${arity === 1 ? "" : "s"}, got ${args.length}`,
      column,
    );
  }
  const pattern = args[1];
  if (name === "match" && pattern?.kind === "literal" && typeof pattern.value === "string") {
    try {
      checkGlob(pattern.value);
    } catch (err) {
      if (err instanceof GlobSyntaxError) throw syntaxErrorAt(`invalid pattern: ${err.message}`, pattern.column);
      throw err;
    }
  }
}

/** Parses an FQL expression into an AST. The whole (trimmed) source `all` parses to `{ kind: "all" }`. */
export function parseFql(source: string): FqlNode {
  if (typeof source !== "string") throw new FqlSyntaxError("expression must be a string", 1);
  const trimmed = source.trim();
  if (trimmed === "") throw new FqlSyntaxError("empty expression", 1);
  if (trimmed === "all") return { kind: "all", column: columnOf(source, source.indexOf("all")) };
  const tokens = new Lexer(source).tokenize();
  return new Parser(source, tokens).parse();
}

/**
 * Parses a stand-alone field path (same syntax as in expressions): `properties.product\ 1.price` →
 * `["properties", "product 1", "price"]`. Unlike in expressions, a segment may start with a digit or `-` and
 * keywords (`in`, `true`, …) are plain field names here.
 */
export function parseFqlPath(path: string): string[] {
  if (typeof path !== "string") throw new FqlSyntaxError("path must be a string", 1);
  if (path === "") throw new FqlSyntaxError("empty path", 1);
  const token = new Lexer(path).ident(0);
  if (token.end < path.length) {
    const cp = path.codePointAt(token.end)!;
    throw syntaxErrorAt(`unexpected '${String.fromCodePoint(cp)}'`, columnOf(path, token.end));
  }
  return [...token.segments!];
}
