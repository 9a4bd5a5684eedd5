/**
 * The one error type filter compilation throws. It says where in the destination's `filters:` list the problem is,
 * so `sluice check` can point at the exact filter, action and field.
 */
export interface FilterRuleLocation {
  /** Index into the destination's filter list (0-based, disabled filters included). */
  filterIndex: number;
  /** Index into that filter's `actions` (0-based), when the problem is inside an action. */
  actionIndex?: number;
  /** The offending key, path or field name, when there is one (`if`, `where`, `fields.properties`, …). */
  field?: string;
  /** 1-based column inside an FQL or JSONPath expression, when known. */
  column?: number;
}

export class FilterRuleError extends Error {
  readonly filterIndex: number;
  readonly actionIndex?: number;
  readonly field?: string;
  readonly column?: number;
  /** The problem alone, without the location prefix (for callers that report the location their own way). */
  readonly detail: string;

  constructor(message: string, location: FilterRuleLocation, options?: { cause?: unknown; detail?: string }) {
    super(message, options);
    this.detail = options?.detail ?? message;
    this.name = "FilterRuleError";
    this.filterIndex = location.filterIndex;
    if (location.actionIndex !== undefined) this.actionIndex = location.actionIndex;
    if (location.field !== undefined) this.field = location.field;
    if (location.column !== undefined) this.column = location.column;
  }
}

/** Thrown by the path/JSONPath helpers; the compiler re-throws it as a FilterRuleError with a location. */
export class RuleProblem extends Error {
  readonly column?: number;
  constructor(message: string, column?: number) {
    super(message);
    this.name = "RuleProblem";
    if (column !== undefined) this.column = column;
  }
}
