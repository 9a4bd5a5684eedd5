import { atMostCodePoints, MAX_PATTERN_INPUT } from "../pattern-input.ts";
import type { FqlCompareOp, FqlNode } from "./ast.ts";
import { syntaxErrorAt } from "./errors.ts";
import { GlobSyntaxError, compileGlob, type GlobMatcher } from "./glob.ts";
import { validateCall } from "./parser.ts";
import {
  arrayIndexOf,
  fqlBool,
  fqlEquals,
  fqlKebabcase,
  fqlLength,
  fqlLowercase,
  fqlNumber,
  fqlSnakecase,
  fqlString,
  fqlTitlecase,
  fqlUppercase,
  step,
  stepKey,
  typeName,
} from "./values.ts";

export type FqlEvent = Record<string, unknown>;
export type FqlPredicate = (event: FqlEvent) => boolean;

/*
 * The AST is compiled once into nested closures specialised by node kind; evaluating an event never walks the
 * AST. Constant sub-expressions are folded at compile time, comparisons against a constant capture it, `in` with
 * a literal list of primitives uses a Set, literal glob patterns are compiled once, and `and`/`or` chains are
 * flattened (so a long chain neither recurses deeply at compile time nor nests closures at run time).
 *
 * Boolean contexts (the whole expression, operands of `and` / `or` / `!`) are true only for the boolean `true`:
 * `properties.enabled` matches iff that field is the JSON boolean `true` (not "true", not 1). Missing fields are
 * `null`, so `!properties.enabled` matches when the field is missing, false, or not a boolean.
 */

type Value = (event: unknown) => unknown;
type Pred = (event: unknown) => boolean;

const EMPTY: unknown = Object.freeze({});
const TRUE: Pred = () => true;
const FALSE: Pred = () => false;

type Call = Extract<FqlNode, { kind: "call" }>;

/** True if the node reads no event field (so it can be evaluated once at compile time). Iterative. */
function isConstant(root: FqlNode): boolean {
  const stack: FqlNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    switch (node.kind) {
      case "path":
        return false;
      case "literal":
      case "all":
        break;
      case "not":
        stack.push(node.operand);
        break;
      case "and":
      case "or":
      case "compare":
      case "in":
        stack.push(node.left, node.right);
        break;
      case "call":
        stack.push(...node.args);
        break;
      default:
        throw unknownNode(node);
    }
  }
  return true;
}

function unknownNode(node: never): Error {
  return new TypeError(`unknown FQL node kind: ${JSON.stringify((node as { kind?: unknown }).kind)}`);
}

function constantValue(node: FqlNode): unknown {
  return node.kind === "literal" ? node.value : buildValue(node)(EMPTY);
}

function compileValue(node: FqlNode): Value {
  if (node.kind !== "path" && isConstant(node)) {
    const value = constantValue(node);
    return () => value;
  }
  return buildValue(node);
}

function buildValue(node: FqlNode): Value {
  switch (node.kind) {
    case "literal": {
      const value = node.value;
      return () => value;
    }
    case "path":
      return compilePath(node.segments);
    case "call":
      return compileCall(node);
    case "all":
    case "not":
    case "and":
    case "or":
    case "compare":
    case "in":
      return buildPred(node);
    default:
      throw unknownNode(node);
  }
}

function compilePred(node: FqlNode): Pred {
  if (isConstant(node)) return buildPred(node)(EMPTY) ? TRUE : FALSE;
  return buildPred(node);
}

function buildPred(node: FqlNode): Pred {
  switch (node.kind) {
    case "all":
      return TRUE;
    case "literal":
      return node.value === true ? TRUE : FALSE;
    case "path": {
      const get = compilePath(node.segments);
      return (e) => get(e) === true;
    }
    case "not": {
      const p = compilePred(node.operand);
      return (e) => !p(e);
    }
    case "and":
    case "or":
      return compileChain(node);
    case "compare":
      return compileCompare(node.op, node.left, node.right);
    case "in":
      return compileIn(node.left, node.right);
    case "call": {
      validateCall(node);
      if (node.name === "contains") return compileContains(node);
      if (node.name === "match") return compileMatch(node);
      if (node.name === "bool") {
        const x = compileValue(node.args[0]!);
        return (e) => fqlBool(x(e)) === true;
      }
      const v = compileCall(node);
      return (e) => v(e) === true;
    }
    default:
      throw unknownNode(node);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Paths

function compilePath(segments: readonly string[]): Value {
  const keys = [...segments];
  const indexes = keys.map(arrayIndexOf);
  if (indexes.some((i) => i >= 0)) {
    const n = keys.length;
    return (e) => {
      let v = e;
      for (let i = 0; i < n; i++) {
        v = step(v, keys[i]!, indexes[i]!);
        if (v === undefined) return undefined;
      }
      return v;
    };
  }
  switch (keys.length) {
    case 0:
      return (e) => e;
    case 1: {
      const k0 = keys[0]!;
      return (e) => stepKey(e, k0);
    }
    case 2: {
      const k0 = keys[0]!;
      const k1 = keys[1]!;
      return (e) => stepKey(stepKey(e, k0), k1);
    }
    case 3: {
      const k0 = keys[0]!;
      const k1 = keys[1]!;
      const k2 = keys[2]!;
      return (e) => stepKey(stepKey(stepKey(e, k0), k1), k2);
    }
    case 4: {
      const k0 = keys[0]!;
      const k1 = keys[1]!;
      const k2 = keys[2]!;
      const k3 = keys[3]!;
      return (e) => stepKey(stepKey(stepKey(stepKey(e, k0), k1), k2), k3);
    }
    default: {
      const n = keys.length;
      return (e) => {
        let v = e;
        for (let i = 0; i < n; i++) {
          v = stepKey(v, keys[i]!);
          if (v === undefined) return undefined;
        }
        return v;
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// and / or

function compileChain(root: Extract<FqlNode, { kind: "and" | "or" }>): Pred {
  const kind = root.kind;
  // Flatten the (left-deep) chain iteratively, keeping left-to-right order.
  const operands: FqlNode[] = [];
  const stack: FqlNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.kind === kind) stack.push(node.right, node.left);
    else operands.push(node);
  }
  // For `and`, a constant false decides and a constant true is dropped; dually for `or`.
  const decisive = kind === "or";
  const preds: Pred[] = [];
  for (const operand of operands) {
    if (isConstant(operand)) {
      if (buildPred(operand)(EMPTY) === decisive) return decisive ? TRUE : FALSE;
      continue;
    }
    preds.push(compilePred(operand));
  }
  const n = preds.length;
  if (n === 0) return decisive ? FALSE : TRUE;
  const [p0, p1, p2, p3] = preds as [Pred, Pred, Pred, Pred];
  if (kind === "and") {
    switch (n) {
      case 1:
        return p0;
      case 2:
        return (e) => p0(e) && p1(e);
      case 3:
        return (e) => p0(e) && p1(e) && p2(e);
      case 4:
        return (e) => p0(e) && p1(e) && p2(e) && p3(e);
      default:
        return (e) => {
          for (let i = 0; i < n; i++) if (!preds[i]!(e)) return false;
          return true;
        };
    }
  }
  switch (n) {
    case 1:
      return p0;
    case 2:
      return (e) => p0(e) || p1(e);
    case 3:
      return (e) => p0(e) || p1(e) || p2(e);
    case 4:
      return (e) => p0(e) || p1(e) || p2(e) || p3(e);
    default:
      return (e) => {
        for (let i = 0; i < n; i++) if (preds[i]!(e)) return true;
        return false;
      };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Comparisons

const MIRROR: Readonly<Record<FqlCompareOp, FqlCompareOp>> = {
  "=": "=",
  "!=": "!=",
  "<": ">",
  "<=": ">=",
  ">": "<",
  ">=": "<=",
};

function compileCompare(op: FqlCompareOp, left: FqlNode, right: FqlNode): Pred {
  if (isConstant(left) && !isConstant(right)) return compareWithConstant(MIRROR[op], compileValue(right), constantValue(left));
  if (isConstant(right)) return compareWithConstant(op, compileValue(left), constantValue(right));
  const l = compileValue(left);
  const r = compileValue(right);
  switch (op) {
    case "=":
      return (e) => fqlEquals(l(e), r(e));
    case "!=":
      return (e) => !fqlEquals(l(e), r(e));
    case "<":
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === "number" && typeof b === "number" && a < b;
      };
    case "<=":
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === "number" && typeof b === "number" && a <= b;
      };
    case ">":
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === "number" && typeof b === "number" && a > b;
      };
    case ">=":
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === "number" && typeof b === "number" && a >= b;
      };
  }
}

function compareWithConstant(op: FqlCompareOp, get: Value, constant: unknown): Pred {
  switch (op) {
    case "=":
    case "!=": {
      if (constant === null || constant === undefined) {
        if (op === "=") {
          return (e) => {
            const v = get(e);
            return v === null || v === undefined;
          };
        }
        return (e) => {
          const v = get(e);
          return v !== null && v !== undefined;
        };
      }
      if (typeof constant === "object") {
        if (op === "=") return (e) => fqlEquals(get(e), constant);
        return (e) => !fqlEquals(get(e), constant);
      }
      if (op === "=") return (e) => get(e) === constant;
      return (e) => get(e) !== constant;
    }
    default:
      break;
  }
  if (typeof constant !== "number") return FALSE;
  const c = constant;
  switch (op) {
    case "<":
      return (e) => {
        const v = get(e);
        return typeof v === "number" && v < c;
      };
    case "<=":
      return (e) => {
        const v = get(e);
        return typeof v === "number" && v <= c;
      };
    case ">":
      return (e) => {
        const v = get(e);
        return typeof v === "number" && v > c;
      };
    case ">=":
      return (e) => {
        const v = get(e);
        return typeof v === "number" && v >= c;
      };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// in

function isPrimitive(v: unknown): v is string | number | boolean | null {
  return v === null || (typeof v !== "object" && typeof v !== "function");
}

function compileIn(left: FqlNode, right: FqlNode): Pred {
  if (isConstant(right)) {
    const list = constantValue(right);
    if (!Array.isArray(list) || list.length === 0) return FALSE;
    const get = compileValue(left);
    const primitives = new Set<unknown>();
    const compounds: unknown[] = [];
    for (const item of list as readonly unknown[]) {
      if (isPrimitive(item) || item === undefined) primitives.add(item ?? null);
      else compounds.push(item);
    }
    const hasNull = primitives.has(null);
    if (compounds.length === 0) {
      if (primitives.size === 1) {
        const only = primitives.values().next().value;
        if (only === null) {
          return (e) => {
            const v = get(e);
            return v === null || v === undefined;
          };
        }
        return (e) => get(e) === only;
      }
      if (hasNull) {
        return (e) => {
          const v = get(e);
          return primitives.has(v === undefined ? null : v);
        };
      }
      return (e) => primitives.has(get(e));
    }
    return (e) => {
      const v = get(e);
      if (v === null || v === undefined) return hasNull;
      if (typeof v !== "object") return primitives.has(v);
      for (let i = 0; i < compounds.length; i++) if (fqlEquals(v, compounds[i])) return true;
      return false;
    };
  }
  const getList = compileValue(right);
  if (isConstant(left)) {
    const needle = constantValue(left);
    if (needle !== null && needle !== undefined && isPrimitive(needle)) {
      // Strings, finite numbers and bools: Array#includes (SameValueZero) is exactly `===` here.
      return (e) => {
        const list = getList(e);
        return Array.isArray(list) && list.includes(needle);
      };
    }
    return (e) => {
      const list = getList(e);
      if (!Array.isArray(list)) return false;
      for (let i = 0; i < list.length; i++) if (fqlEquals(needle, list[i])) return true;
      return false;
    };
  }
  const get = compileValue(left);
  return (e) => {
    const list = getList(e);
    if (!Array.isArray(list)) return false;
    const v = get(e);
    for (let i = 0; i < list.length; i++) if (fqlEquals(v, list[i])) return true;
    return false;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Functions

function compileContains(node: Call): Pred {
  const get = compileValue(node.args[0]!);
  const subNode = node.args[1]!;
  if (isConstant(subNode)) {
    const sub = constantValue(subNode);
    if (typeof sub !== "string") return FALSE;
    if (sub === "") return (e) => typeof get(e) === "string";
    return (e) => {
      const s = get(e);
      return typeof s === "string" && s.includes(sub);
    };
  }
  const getSub = compileValue(subNode);
  return (e) => {
    const s = get(e);
    if (typeof s !== "string") return false;
    const sub = getSub(e);
    return typeof sub === "string" && s.includes(sub);
  };
}

/**
 * Longest match() pattern taken from the event that is tried. Glob matching takes up to pattern × value steps
 * (./glob.ts): bounding both keeps a call near 0.5 M steps, where a 24 KB event (pattern and value of 12 KB each)
 * took 540 ms. Literal patterns are the operator's, checked when the config compiles, and linear in the value.
 */
export const MAX_EVENT_GLOB = 256;

function compileMatch(node: Call): Pred {
  const get = compileValue(node.args[0]!);
  const patternNode = node.args[1]!;
  if (isConstant(patternNode)) {
    const pattern = constantValue(patternNode);
    if (typeof pattern !== "string") return FALSE;
    let matcher: GlobMatcher;
    try {
      matcher = compileGlob(pattern);
    } catch (err) {
      if (err instanceof GlobSyntaxError) throw syntaxErrorAt(`invalid pattern: ${err.message}`, patternNode.column);
      throw err;
    }
    return (e) => {
      const s = get(e);
      return typeof s === "string" && matcher(s);
    };
  }
  // Pattern read from the event: compile on change, remember the last one; a malformed pattern never matches, nor
  // does one over MAX_EVENT_GLOB or a value over MAX_PATTERN_INPUT characters.
  const getPattern = compileValue(patternNode);
  let lastPattern: string | undefined;
  let lastMatcher: GlobMatcher | null = null;
  return (e) => {
    const s = get(e);
    if (typeof s !== "string" || !atMostCodePoints(s, MAX_PATTERN_INPUT)) return false;
    const pattern = getPattern(e);
    if (typeof pattern !== "string" || !atMostCodePoints(pattern, MAX_EVENT_GLOB)) return false;
    if (pattern !== lastPattern) {
      lastPattern = pattern;
      try {
        lastMatcher = compileGlob(pattern);
      } catch {
        lastMatcher = null;
      }
    }
    return lastMatcher !== null && lastMatcher(s);
  };
}

function compileCall(node: Call): Value {
  validateCall(node);
  switch (node.name) {
    case "contains":
      return compileContains(node);
    case "match":
      return compileMatch(node);
    default:
      break;
  }
  const x = compileValue(node.args[0]!);
  switch (node.name) {
    case "length":
      return (e) => fqlLength(x(e));
    case "lowercase":
      return (e) => fqlLowercase(x(e));
    case "uppercase":
      return (e) => fqlUppercase(x(e));
    case "snakecase":
      return (e) => fqlSnakecase(x(e));
    case "kebabcase":
      return (e) => fqlKebabcase(x(e));
    case "titlecase":
      return (e) => fqlTitlecase(x(e));
    case "typeof":
      return (e) => typeName(x(e));
    case "bool":
      return (e) => fqlBool(x(e));
    case "string":
      return (e) => fqlString(x(e));
    case "number":
      return (e) => fqlNumber(x(e));
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** Compiles a parsed expression into a predicate. Throws FqlSyntaxError for invalid calls / glob patterns. */
export function compileFqlNode(node: FqlNode): FqlPredicate {
  return compilePred(node);
}
