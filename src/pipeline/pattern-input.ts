/**
 * How long a string the pipeline hands to a matcher whose cost the event controls: a tracking plan's `pattern` and
 * `patternProperties` (the build refuses super-linear regexes; this caps what one it misjudged can cost: a
 * quadratic one at ~4 M steps instead of ~1 G on a 32 KB value) and FQL `match()` with a pattern read from the
 * event (glob matching costs pattern × value). Longer strings are never matched: plans report a violation, such a
 * match() is false.
 */
export const MAX_PATTERN_INPUT = 2048;

/** Length in Unicode code points (a surrogate pair counts once), as JSON Schema defines string length. */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Whether `s` has at most `max` code points; counts them only when the UTF-16 length leaves a doubt. */
export function atMostCodePoints(s: string, max: number): boolean {
  return s.length <= max || (s.length <= 2 * max && codePoints(s) <= max);
}
