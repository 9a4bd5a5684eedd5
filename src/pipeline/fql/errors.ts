/**
 * Error thrown for any FQL expression that cannot be parsed or compiled.
 *
 * `message` never carries an "FQL:" prefix; it reads like
 * `unexpected ')' at column 23`. `column` is 1-based and counts Unicode code points from the start of the source
 * (a multi-line source is treated as one line). `empty expression` is the only message without a column suffix;
 * its `column` is 1.
 */
export class FqlSyntaxError extends Error {
  readonly column: number;

  constructor(message: string, column: number) {
    super(message);
    this.name = "FqlSyntaxError";
    this.column = column;
  }
}

/** Builds an error whose message ends with ` at column N`. */
export function syntaxErrorAt(reason: string, column: number): FqlSyntaxError {
  return new FqlSyntaxError(`${reason} at column ${column}`, column);
}
