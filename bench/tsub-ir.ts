/**
 * Translates our destination-filter specs into Segment's tsub rules (the form Segment's CDN settings deliver to
 * analytics.js): FQL → tsub's JSON IR via our own parser (`parseFql`), actions → tsub transformers.
 *
 * IR shape (see @segment/tsub's matchers tests): paths are dotted strings (`"context.page.url"`), literals are
 * `{"value": x}`, lists are `{"value": [{"value": a}, {"value": b}]}`, operators and functions are arrays
 * `[op, ...operands]`, `and`/`or` are n-ary. The translation is literal: function names and literals are kept
 * as written (e.g. `typeof(x) = "number"` stays `["=", ["typeof", "x"], {"value": "number"}]`), so every
 * difference in behaviour comes from the evaluator, not from the translation.
 */
import type { Matcher, Rule, Transformer } from "@segment/tsub/dist/store";
import { parseFql, type FqlNode } from "../src/pipeline/fql/index.ts";
import type { ActionSpec, FilterSpec } from "../src/pipeline/filters/index.ts";

export type TsubIr = string | { value: unknown } | TsubIr[];

/** Functions tsub's evaluator implements (FQL's bool/string/number/case helpers beyond lowercase are missing). */
const TSUB_FUNCTIONS = new Set(["contains", "match", "lowercase", "length", "typeof"]);

const BOOLEAN_KINDS = new Set(["not", "and", "or", "compare", "in"]);

export function fqlToTsubIr(node: FqlNode): TsubIr {
  switch (node.kind) {
    case "all":
      throw new Error('"all" is a matcher type in tsub, not IR');
    case "literal":
      return { value: literalValue(node.value) };
    case "path":
      if (node.segments.some((s) => s.includes("."))) {
        throw new Error(`path ${JSON.stringify(node.segments)} has a '.' inside a segment: tsub's dotted paths cannot express it`);
      }
      return node.segments.join(".");
    case "not":
      return ["!", fqlToTsubIr(node.operand)];
    case "and":
    case "or": {
      const operands: TsubIr[] = [];
      const stack: FqlNode[] = [node];
      while (stack.length > 0) {
        const n = stack.pop()!;
        if (n.kind === node.kind) stack.push(n.right, n.left);
        else operands.push(fqlToTsubIr(n));
      }
      return [node.kind, ...operands];
    }
    case "compare":
    case "in": {
      for (const side of [node.left, node.right]) {
        // tsub only evaluates function calls in operand position (its isIR() heuristic), not nested predicates.
        if (BOOLEAN_KINDS.has(side.kind)) throw new Error(`tsub cannot compare a nested ${side.kind} expression`);
      }
      return [node.kind === "in" ? "in" : node.op, fqlToTsubIr(node.left), fqlToTsubIr(node.right)];
    }
    case "call":
      if (!TSUB_FUNCTIONS.has(node.name)) throw new Error(`tsub has no FQL function ${node.name}()`);
      return [node.name, ...node.args.map(fqlToTsubIr)];
  }
}

/** Lists become lists of `{value}` items (tsub resolves bare strings inside a list as event paths). */
function literalValue(value: unknown): unknown {
  return Array.isArray(value) ? value.map((item) => ({ value: literalValue(item) })) : value;
}

export function fqlToTsubMatcher(source: string): Matcher {
  if (source.trim() === "all") return { type: "all", ir: "" };
  const node = parseFql(source);
  if (node.kind === "all") return { type: "all", ir: "" };
  return { type: "fql", ir: JSON.stringify(fqlToTsubIr(node)) };
}

export function actionToTsubTransformer(action: ActionSpec): Transformer {
  switch (action.type) {
    case "DROP":
      return { type: "drop" };
    case "SAMPLE":
      return { type: "sample_event", config: { sample: { percent: action.percent, path: action.path ?? "" } } };
    case "DROP_PROPERTIES":
      return { type: "drop_properties", config: { drop: action.fields } };
    case "ALLOW_PROPERTIES":
      return { type: "allow_properties", config: { allow: action.fields } };
    default:
      throw new Error(`tsub has no equivalent of ${action.type}`);
  }
}

/** One tsub rule per filter: one matcher, one transformer list — the shape Segment's CDN settings use. */
export function filterToTsubRule(spec: FilterSpec, destinationName: string): Rule {
  if (spec.where !== undefined) throw new Error(`${spec.title}: JSONPath conditions have no tsub equivalent`);
  return {
    scope: "destinations",
    target_type: "workspace::project::destination",
    destinationName,
    matchers: [fqlToTsubMatcher(spec.if ?? "all")],
    transformers: [spec.actions.map(actionToTsubTransformer)],
  };
}
