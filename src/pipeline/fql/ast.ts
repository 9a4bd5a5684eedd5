/** A literal value: what can be written in FQL source (objects cannot). */
export type FqlValue = string | number | boolean | null | readonly FqlValue[];

export type FqlCompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

export type FqlFunctionName =
  | "contains"
  | "match"
  | "length"
  | "lowercase"
  | "uppercase"
  | "snakecase"
  | "kebabcase"
  | "titlecase"
  | "typeof"
  | "bool"
  | "string"
  | "number";

/** Number of arguments each function takes. Function names are case-sensitive. */
export const FQL_FUNCTION_ARITY: Readonly<Record<FqlFunctionName, number>> = Object.freeze({
  contains: 2,
  match: 2,
  length: 1,
  lowercase: 1,
  uppercase: 1,
  snakecase: 1,
  kebabcase: 1,
  titlecase: 1,
  typeof: 1,
  bool: 1,
  string: 1,
  number: 1,
});

export function isFqlFunctionName(name: string): name is FqlFunctionName {
  return Object.prototype.hasOwnProperty.call(FQL_FUNCTION_ARITY, name);
}

/**
 * FQL abstract syntax tree. Every node carries the 1-based column of the token that introduced it (the operator
 * for binary nodes, the function name for calls, the first character for literals and paths).
 */
export type FqlNode =
  /** The whole expression was the literal `all`: matches every event. */
  | { readonly kind: "all"; readonly column: number }
  | { readonly kind: "literal"; readonly value: FqlValue; readonly column: number }
  | { readonly kind: "path"; readonly segments: readonly string[]; readonly column: number }
  | { readonly kind: "not"; readonly operand: FqlNode; readonly column: number }
  | { readonly kind: "and"; readonly left: FqlNode; readonly right: FqlNode; readonly column: number }
  | { readonly kind: "or"; readonly left: FqlNode; readonly right: FqlNode; readonly column: number }
  | {
      readonly kind: "compare";
      readonly op: FqlCompareOp;
      readonly left: FqlNode;
      readonly right: FqlNode;
      readonly column: number;
    }
  | { readonly kind: "in"; readonly left: FqlNode; readonly right: FqlNode; readonly column: number }
  | { readonly kind: "call"; readonly name: FqlFunctionName; readonly args: readonly FqlNode[]; readonly column: number };
