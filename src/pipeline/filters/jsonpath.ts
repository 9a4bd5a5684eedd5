/**
 * JSONPath support for filters (`where:` conditions and `$…` entries in DROP_PROPERTIES), on top of jsonpath-plus.
 *
 * Cloudflare Workers forbid `eval`/`new Function`, and jsonpath-plus's own path parser is regex based, so every
 * path is checked here at compile time:
 *  - the path is scanned by a small strict parser; anything it does not understand is rejected with a column;
 *  - script segments `[(…)]`, `@other()` and nested filters are rejected;
 *  - filter expressions `[?(…)]` must use a small, side-effect-free subset of JavaScript (see `checkFilterExpression`)
 *    and are then evaluated by jsonpath-plus's `eval: "safe"` interpreter (an AST walker — no eval, no Function).
 *    Paths without filter expressions run with `eval: false`.
 *  - our own reading of the filter expressions must agree with how jsonpath-plus splits the path, otherwise the path
 *    is rejected (so a quirk of its parser can never run an expression we did not check).
 * At run time evaluation errors inside a filter expression (e.g. `@.a.b` where `a` is missing) count as "no match".
 */
import { JSONPath } from "jsonpath-plus";
import { RuleProblem } from "./errors.ts";
import { FORBIDDEN_KEYS, type JsonObject, putKey } from "./paths.ts";

export interface CompiledJsonPath {
  readonly source: string;
  /** True when the path matches at least one node of `json`. */
  test(json: JsonObject): boolean;
  /** Copy-on-write removal of every node the path matches (object keys or array elements). */
  drop(json: JsonObject): JsonObject;
}

export type JsonPathPurpose = "where" | "drop";

/** The fields used here of one match with `resultType: "all"` (jsonpath-plus 10 exports no type for it). */
interface JsonPathMatch {
  parent: unknown;
  parentProperty: string | number | null;
}

/** True when a DROP_PROPERTIES entry is meant as a JSONPath rather than a key name (`$email` stays a key name). */
export function looksLikeJsonPath(entry: string): boolean {
  return entry === "$" || entry.startsWith("$.") || entry.startsWith("$[");
}

const TYPE_SELECTORS = new Set([
  "scalar", "boolean", "string", "undefined", "function", "integer", "number", "nonFinite", "object", "array", "null",
]);
const ALLOWED_METHODS = new Set(["includes", "startsWith", "endsWith"]);
const AT_REFERENCES = new Set(["", "root", "parent", "parentProperty", "property", "path"]);
/** Characters jsonpath-plus's regex parser gives a meaning to; refused inside quoted names and string literals. */
const UNSAFE_IN_STRINGS = /[()[\];?\\'"]/;

interface Scan {
  filters: string[];
  hasParentOrProperty: boolean;
  segments: number;
}

/** Strict scan of a JSONPath; returns the filter expressions (without `?(`…`)`) in order. Columns are 1-based. */
function scanJsonPath(src: string): Scan {
  const fail = (message: string, at: number): never => {
    throw new RuleProblem(`${message} at column ${at + 1}`, at + 1);
  };
  if (src[0] !== "$") fail('a JSONPath must start with "$"', 0);
  const filters: string[] = [];
  let hasParentOrProperty = false;
  let segments = 0;
  let pos = 1;

  const readName = (): void => {
    const match = /^(?:\*|[^.[\]()'"~^?;@,\s\\]+)/.exec(src.slice(pos));
    if (!match) fail("expected a property name", pos);
    const name = (match as RegExpExecArray)[0];
    if (FORBIDDEN_KEYS.has(name)) fail(`forbidden key "${name}"`, pos);
    pos += name.length;
    segments++;
  };

  const readQuoted = (): void => {
    const quote = src[pos] as string;
    const start = pos;
    pos++;
    let value = "";
    while (pos < src.length && src[pos] !== quote) value += src[pos++];
    if (pos >= src.length) fail("unterminated quoted name", start);
    pos++;
    if (UNSAFE_IN_STRINGS.test(value)) fail("unsupported character in quoted name", start);
    if (FORBIDDEN_KEYS.has(value)) fail(`forbidden key "${value}"`, start);
  };

  const skipSpaces = (): void => {
    while (src[pos] === " ") pos++;
  };

  while (pos < src.length) {
    const c = src[pos];
    if (c === ".") {
      if (src[pos + 1] === ".") {
        pos += 2;
        if (src[pos] === "[") continue;
      } else {
        pos += 1;
      }
      readName();
    } else if (c === "[") {
      const open = pos;
      pos++;
      skipSpaces();
      if (src[pos] === "?" && src[pos + 1] === "(") {
        const exprStart = pos + 2;
        let depth = 1;
        pos = exprStart;
        while (pos < src.length && depth > 0) {
          const ch = src[pos];
          if (ch === "'" || ch === '"') {
            const end = src.indexOf(ch, pos + 1);
            if (end < 0) fail("unterminated string", pos);
            pos = end + 1;
            continue;
          }
          if (ch === "(") depth++;
          else if (ch === ")") depth--;
          pos++;
        }
        if (depth > 0) fail("unbalanced parentheses in filter expression", open);
        const expr = src.slice(exprStart, pos - 1);
        checkFilterExpression(expr, exprStart);
        filters.push(expr);
        skipSpaces();
      } else if (src[pos] === "(") {
        fail("script expressions [(…)] are not supported (only filters [?(…)])", pos);
      } else if (src[pos] === "'" || src[pos] === '"') {
        readQuoted();
        skipSpaces();
        while (src[pos] === ",") {
          pos++;
          skipSpaces();
          if (src[pos] !== "'" && src[pos] !== '"') fail("expected a quoted name", pos);
          readQuoted();
          skipSpaces();
        }
      } else {
        const match = /^(?:\*|-?[0-9]*(?::-?[0-9]*){1,2}|[0-9]+(?:\s*,\s*[0-9]+)*)/.exec(src.slice(pos));
        if (!match || match[0] === "") fail("expected an index, slice, '*', quoted name or filter", pos);
        pos += (match as RegExpExecArray)[0].length;
        skipSpaces();
      }
      if (src[pos] !== "]") fail('expected "]"', pos);
      pos++;
      segments++;
    } else if (c === "~" || c === "^") {
      hasParentOrProperty = true;
      pos++;
      segments++;
    } else if (c === "@") {
      const match = /^@([A-Za-z]+)\(\)/.exec(src.slice(pos));
      if (!match || !TYPE_SELECTORS.has(match[1] as string)) fail("unsupported type selector (allowed: @string(), @number(), …)", pos);
      pos += (match as RegExpExecArray)[0].length;
      segments++;
    } else {
      fail(`unexpected "${c}"`, pos);
    }
  }
  return { filters, hasParentOrProperty, segments };
}

// ---------------------------------------------------------------------------------------------------------------
// Filter expressions: a side-effect-free subset that jsonpath-plus's safe interpreter (jsep) parses identically.
//   expr    := and ("||" and)*
//   and     := cmp ("&&" cmp)*
//   cmp     := unary (("==" | "===" | "!=" | "!==" | "<" | "<=" | ">" | ">=") unary)?
//   unary   := ("!" | "-") unary | primary
//   primary := number | 'string' | "string" | true | false | null | "(" expr ")" | ref
//   ref     := ("@" | "@root" | "@parent" | "@parentProperty" | "@property" | "@path")
//              ("." name | "[" (string | number) "]" | "." ("includes"|"startsWith"|"endsWith") "(" expr ("," expr)* ")")*
// ---------------------------------------------------------------------------------------------------------------

interface Token {
  kind: "num" | "str" | "ident" | "at" | "op" | "end";
  text: string;
  at: number;
}

const OPERATORS = ["===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "-", "(", ")", "[", "]", ".", ","];

function tokenize(expr: string, offset: number): Token[] {
  const fail = (message: string, at: number): never => {
    throw new RuleProblem(`${message} at column ${offset + at + 1}`, offset + at + 1);
  };
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < expr.length) {
    const c = expr[pos] as string;
    if (c === " " || c === "\t") {
      pos++;
      continue;
    }
    const rest = expr.slice(pos);
    let m: RegExpExecArray | null;
    if ((m = /^[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(rest))) {
      tokens.push({ kind: "num", text: m[0], at: pos });
      pos += m[0].length;
    } else if (c === "'" || c === '"') {
      const end = expr.indexOf(c, pos + 1);
      if (end < 0) fail("unterminated string", pos);
      const text = expr.slice(pos + 1, end);
      if (UNSAFE_IN_STRINGS.test(text)) fail("strings in filter expressions may not contain ( ) [ ] ; ? \\ or quotes", pos);
      tokens.push({ kind: "str", text, at: pos });
      pos = end + 1;
    } else if ((m = /^@[A-Za-z_$]*/.exec(rest))) {
      tokens.push({ kind: "at", text: m[0].slice(1), at: pos });
      pos += m[0].length;
    } else if ((m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(rest))) {
      tokens.push({ kind: "ident", text: m[0], at: pos });
      pos += m[0].length;
    } else {
      const op = OPERATORS.find((o) => rest.startsWith(o));
      if (op === undefined) fail(`unexpected "${c}" in filter expression`, pos);
      tokens.push({ kind: "op", text: op as string, at: pos });
      pos += (op as string).length;
    }
  }
  tokens.push({ kind: "end", text: "", at: expr.length });
  return tokens;
}

export function checkFilterExpression(expr: string, offset: number): void {
  const tokens = tokenize(expr, offset);
  let i = 0;
  const peek = (): Token => tokens[i] as Token;
  const fail = (message: string, token: Token = peek()): never => {
    throw new RuleProblem(`${message} at column ${offset + token.at + 1}`, offset + token.at + 1);
  };
  const isOp = (text: string): boolean => peek().kind === "op" && peek().text === text;
  const expectOp = (text: string): void => {
    if (!isOp(text)) fail(`expected "${text}" in filter expression`);
    i++;
  };

  const parseOr = (): void => {
    parseAnd();
    while (isOp("||")) {
      i++;
      parseAnd();
    }
  };
  const parseAnd = (): void => {
    parseCmp();
    while (isOp("&&")) {
      i++;
      parseCmp();
    }
  };
  const parseCmp = (): void => {
    parseUnary();
    if (peek().kind === "op" && ["==", "===", "!=", "!==", "<", "<=", ">", ">="].includes(peek().text)) {
      i++;
      parseUnary();
    }
  };
  const parseUnary = (): void => {
    if (isOp("!") || isOp("-")) {
      i++;
      parseUnary();
      return;
    }
    parsePrimary();
  };
  const parsePrimary = (): void => {
    const token = peek();
    if (token.kind === "num" || token.kind === "str") {
      i++;
      return;
    }
    if (token.kind === "ident") {
      if (token.text === "true" || token.text === "false" || token.text === "null") {
        i++;
        return;
      }
      fail(`unknown name "${token.text}" in filter expression (use @ for the current node)`);
    }
    if (isOp("(")) {
      i++;
      parseOr();
      expectOp(")");
      return;
    }
    if (token.kind === "at") {
      if (!AT_REFERENCES.has(token.text)) fail(`unknown reference "@${token.text}"`);
      i++;
      parseAccessors();
      return;
    }
    fail("expected a value in filter expression");
  };
  const parseAccessors = (): void => {
    for (;;) {
      if (isOp(".")) {
        i++;
        const name = peek();
        if (name.kind !== "ident") fail("expected a property name after '.'");
        if (FORBIDDEN_KEYS.has(name.text)) fail(`forbidden key "${name.text}"`, name);
        i++;
        if (isOp("(")) {
          if (!ALLOWED_METHODS.has(name.text)) fail(`method "${name.text}" is not allowed (only includes, startsWith, endsWith)`, name);
          i++;
          parseOr();
          while (isOp(",")) {
            i++;
            parseOr();
          }
          expectOp(")");
        }
      } else if (isOp("[")) {
        i++;
        const key = peek();
        if (key.kind !== "str" && key.kind !== "num") fail("expected a quoted name or index inside [ ]");
        if (FORBIDDEN_KEYS.has(key.text)) fail(`forbidden key "${key.text}"`, key);
        i++;
        expectOp("]");
      } else {
        return;
      }
    }
  };

  if (peek().kind === "end") fail("empty filter expression");
  parseOr();
  if (peek().kind !== "end") fail(`unexpected "${peek().text}" in filter expression`);
}

// ---------------------------------------------------------------------------------------------------------------

export function compileJsonPath(source: unknown, purpose: JsonPathPurpose): CompiledJsonPath {
  if (typeof source !== "string" || source.trim() === "") throw new RuleProblem("a JSONPath must be a non-empty string");
  const path = source.trim();
  const scan = scanJsonPath(path);
  if (purpose === "drop") {
    if (scan.segments === 0) throw new RuleProblem(`"${path}" selects the whole object; use DROP to drop events`);
    if (scan.hasParentOrProperty) throw new RuleProblem(`"${path}": ~ and ^ are not supported in DROP_PROPERTIES paths`);
  }

  // jsonpath-plus's split of the path must agree with ours on every expression it may evaluate.
  const parts = JSONPath.toPathArray(path);
  if (parts[0] !== "$") throw new RuleProblem(`"${path}" is not understood by the JSONPath engine`);
  const theirFilters: string[] = [];
  for (const part of parts.slice(1)) {
    if (part.startsWith("?(") && part.endsWith(")")) theirFilters.push(part.slice(2, -1));
    else if (part.includes("(") && !/^@[A-Za-z]+\(\)$/.test(part)) {
      throw new RuleProblem(`"${path}" contains an expression the JSONPath engine would evaluate unchecked ("${part}")`);
    }
  }
  if (theirFilters.length !== scan.filters.length || theirFilters.some((f, k) => f !== scan.filters[k])) {
    throw new RuleProblem(`"${path}" is ambiguous for the JSONPath engine; simplify its filter expressions`);
  }

  const evalMode = scan.filters.length > 0 ? "safe" : false;
  const run = (json: JsonObject, resultType: "value" | "all"): unknown[] => {
    const out = JSONPath({ path, json, resultType, wrap: true, eval: evalMode, ignoreEvalErrors: true });
    return Array.isArray(out) ? out : [];
  };

  // A trial run surfaces anything the engine itself refuses.
  try {
    run({}, "value");
  } catch (err) {
    throw new RuleProblem(`"${path}" is not a valid JSONPath: ${(err as Error).message}`);
  }

  return {
    source: path,
    test: (json) => run(json, "value").length > 0,
    drop: (json) => {
      const results = run(json, "all") as JsonPathMatch[];
      if (results.length === 0) return json;
      const targets = new Map<object, Set<string>>();
      for (const result of results) {
        const parent = result.parent;
        if (typeof parent !== "object" || parent === null || result.parentProperty === null) continue;
        let keys = targets.get(parent);
        if (!keys) targets.set(parent, (keys = new Set()));
        keys.add(String(result.parentProperty));
      }
      if (targets.size === 0) return json;
      return rebuildWithout(json, targets) as JsonObject;
    },
  };
}

/** Copy-on-write removal of `targets` (parent object → keys/indices to remove); untouched subtrees are shared. */
function rebuildWithout(node: unknown, targets: Map<object, Set<string>>): unknown {
  if (typeof node !== "object" || node === null) return node;
  const remove = targets.get(node);
  if (Array.isArray(node)) {
    let out: unknown[] | undefined;
    for (let k = 0; k < node.length; k++) {
      const child: unknown = node[k];
      if (remove?.has(String(k))) {
        out ??= node.slice(0, k);
        continue;
      }
      const updated = rebuildWithout(child, targets);
      if (out === undefined && updated !== child) out = node.slice(0, k);
      out?.push(updated);
    }
    return out ?? node;
  }
  const object = node as JsonObject;
  let out: JsonObject | undefined;
  const keys = Object.keys(object);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as string;
    const child = object[key];
    if (remove?.has(key)) {
      if (out === undefined) {
        out = {};
        for (let j = 0; j < k; j++) putKey(out, keys[j] as string, object[keys[j] as string]);
      }
      continue;
    }
    const updated = rebuildWithout(child, targets);
    if (out === undefined && updated !== child) {
      out = {};
      for (let j = 0; j < k; j++) putKey(out, keys[j] as string, object[keys[j] as string]);
    }
    if (out !== undefined) putKey(out, key, updated);
  }
  return out ?? node;
}
