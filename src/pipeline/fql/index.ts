/**
 * Segment-compatible FQL (Filter Query Language) compiler: parse once, evaluate per event with closures.
 * Semantics: docs/filters.md and the comments in ./compile.ts, ./values.ts, ./glob.ts.
 */
import { compileFqlNode, type FqlPredicate } from "./compile.ts";
import { parseFql } from "./parser.ts";

export type { FqlCompareOp, FqlFunctionName, FqlNode, FqlValue } from "./ast.ts";
export { FQL_FUNCTION_ARITY } from "./ast.ts";
export { FqlSyntaxError } from "./errors.ts";
export { compileFqlNode, type FqlEvent, type FqlPredicate } from "./compile.ts";
export { parseFql, parseFqlPath } from "./parser.ts";
export { readPath, typeName as fqlTypeOf, fqlEquals, type FqlTypeName } from "./values.ts";
export { compileGlob, GlobSyntaxError, type GlobMatcher } from "./glob.ts";

/** Parses and compiles an FQL expression (or the literal `all`). Throws FqlSyntaxError if it is invalid. */
export function compileFql(source: string): FqlPredicate {
  return compileFqlNode(parseFql(source));
}
