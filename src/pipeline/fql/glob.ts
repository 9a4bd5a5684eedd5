/**
 * Glob matching for FQL `match(s, pattern)`.
 *
 * Syntax: `*` any run of characters (including none), `?` exactly one character (a Unicode code point), `[abc]`
 * one of the listed characters, `[a-z]` a range, `[!a]` / `[^a]` any character but those listed, `\x` the
 * character `x` literally (also inside classes). A `]` right after `[` (or `[!` / `[^`) is a literal `]`, and
 * a `-` first or last in a class is a literal `-`. Matching is case-sensitive and must cover the whole string.
 *
 * Patterns are compiled once into a matcher function. Patterns made only of literal text and `*` become
 * `===` / `startsWith` / `endsWith` / `indexOf` checks; other patterns run a linear-memory backtracking matcher
 * (O(pattern × subject) worst case, no RegExp, so no catastrophic backtracking).
 */

export type GlobMatcher = (subject: string) => boolean;

/** Raised for malformed patterns; `offset` is the code-unit offset of the problem inside the pattern. */
export class GlobSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = "GlobSyntaxError";
    this.offset = offset;
  }
}

const LIT = 0;
const STAR = 1;
const ANY = 2;
const CLASS = 3;

type Token =
  | { readonly t: typeof LIT; readonly s: string }
  | { readonly t: typeof STAR }
  | { readonly t: typeof ANY }
  | { readonly t: typeof CLASS; readonly negated: boolean; readonly ranges: readonly number[] };

function codePointWidth(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let literal = "";
  const flush = (): void => {
    if (literal !== "") {
      tokens.push({ t: LIT, s: literal });
      literal = "";
    }
  };
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const cp = pattern.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (ch === "*") {
      flush();
      if (tokens.length === 0 || tokens[tokens.length - 1]!.t !== STAR) tokens.push({ t: STAR });
      i += 1;
    } else if (ch === "?") {
      flush();
      tokens.push({ t: ANY });
      i += 1;
    } else if (ch === "\\") {
      if (i + 1 >= n) throw new GlobSyntaxError("dangling '\\' at end of glob pattern", i);
      const esc = pattern.codePointAt(i + 1)!;
      literal += String.fromCodePoint(esc);
      i += 1 + codePointWidth(esc);
    } else if (ch === "[") {
      flush();
      const start = i;
      i += 1;
      let negated = false;
      if (i < n && (pattern[i] === "!" || pattern[i] === "^")) {
        negated = true;
        i += 1;
      }
      const ranges: number[] = [];
      let first = true;
      for (;;) {
        if (i >= n) throw new GlobSyntaxError("unterminated '[' in glob pattern", start);
        let c = pattern.codePointAt(i)!;
        if (c === 0x5d /* ] */ && !first) {
          i += 1;
          break;
        }
        first = false;
        if (c === 0x5c /* \ */) {
          if (i + 1 >= n) throw new GlobSyntaxError("unterminated '[' in glob pattern", start);
          i += 1;
          c = pattern.codePointAt(i)!;
        }
        i += codePointWidth(c);
        let hi = c;
        // A range needs a '-' that is followed by something other than the closing ']'.
        if (i + 1 < n && pattern[i] === "-" && pattern[i + 1] !== "]") {
          let j = i + 1;
          let h = pattern.codePointAt(j)!;
          if (h === 0x5c) {
            if (j + 1 >= n) throw new GlobSyntaxError("unterminated '[' in glob pattern", start);
            j += 1;
            h = pattern.codePointAt(j)!;
          }
          if (h < c) throw new GlobSyntaxError("invalid range in '[' class of glob pattern", i);
          hi = h;
          i = j + codePointWidth(h);
        }
        ranges.push(c, hi);
      }
      tokens.push({ t: CLASS, negated, ranges });
    } else {
      literal += ch;
      i += ch.length;
    }
  }
  flush();
  return tokens;
}

/** Validates a pattern; throws GlobSyntaxError if malformed. */
export function checkGlob(pattern: string): void {
  tokenize(pattern);
}

/** Compiles a glob pattern into a whole-string, case-sensitive matcher. Throws GlobSyntaxError if malformed. */
export function compileGlob(pattern: string): GlobMatcher {
  const tokens = tokenize(pattern);
  if (tokens.every((t) => t.t === LIT || t.t === STAR)) return compileLiteralGlob(tokens);
  return compileGeneralGlob(tokens);
}

function compileLiteralGlob(tokens: readonly Token[]): GlobMatcher {
  // Literal runs separated by stars; leading/trailing empty strings mark a leading/trailing star.
  const parts: string[] = [""];
  for (const tok of tokens) {
    if (tok.t === STAR) parts.push("");
    else if (tok.t === LIT) parts[parts.length - 1] += tok.s;
  }
  if (parts.length === 1) {
    const exact = parts[0]!;
    return (s) => s === exact;
  }
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1);
  if (middle.length === 0) {
    if (head === "" && tail === "") return () => true;
    if (tail === "") return (s) => s.startsWith(head);
    if (head === "") return (s) => s.endsWith(tail);
    const min = head.length + tail.length;
    return (s) => s.length >= min && s.startsWith(head) && s.endsWith(tail);
  }
  if (middle.length === 1 && head === "" && tail === "") {
    const needle = middle[0]!;
    return (s) => s.includes(needle);
  }
  const min = parts.reduce((sum, p) => sum + p.length, 0);
  return (s) => {
    if (s.length < min || !s.startsWith(head) || !s.endsWith(tail)) return false;
    let pos = head.length;
    const end = s.length - tail.length;
    for (let k = 0; k < middle.length; k++) {
      const p = middle[k]!;
      const at = s.indexOf(p, pos);
      if (at < 0 || at + p.length > end) return false;
      pos = at + p.length;
    }
    return true;
  };
}

function inClass(ranges: readonly number[], cp: number): boolean {
  for (let k = 0; k < ranges.length; k += 2) {
    if (cp >= ranges[k]! && cp <= ranges[k + 1]!) return true;
  }
  return false;
}

function compileGeneralGlob(tokens: readonly Token[]): GlobMatcher {
  const n = tokens.length;
  // Classic wildcard matching with a single backtrack point (the most recent star): correct for `*` with
  // single-character tokens, O(pattern × subject) time, O(1) memory.
  return (s) => {
    const len = s.length;
    let ti = 0;
    let si = 0;
    let starTi = -1;
    let starSi = 0;
    while (si < len) {
      if (ti < n) {
        const tok = tokens[ti]!;
        if (tok.t === STAR) {
          starTi = ti;
          starSi = si;
          ti++;
          continue;
        }
        if (tok.t === LIT) {
          if (s.startsWith(tok.s, si)) {
            si += tok.s.length;
            ti++;
            continue;
          }
        } else {
          const cp = s.codePointAt(si)!;
          if (tok.t === ANY || inClass(tok.ranges, cp) !== tok.negated) {
            si += codePointWidth(cp);
            ti++;
            continue;
          }
        }
      }
      if (starTi < 0) return false;
      // Let the last star swallow one more code point and retry the rest of the pattern.
      starSi += codePointWidth(s.codePointAt(starSi)!);
      si = starSi;
      ti = starTi + 1;
    }
    while (ti < n && tokens[ti]!.t === STAR) ti++;
    return ti === n;
  };
}
