/**
 * Naming conventions for event and property names, and "did you mean" suggestions for names that drift
 * (`user_Signedup` for `user_signup`, `order_completed` for `Order Completed`). Pure: used by the tracking plan's
 * violations, the `new_unplanned_event` alert and `sluice names`.
 */

export const CONVENTIONS = ["Object Action", "snake_case", "camelCase"] as const;
export type Convention = (typeof CONVENTIONS)[number];

const TESTS: Record<Convention, RegExp> = {
  // Words in Title Case separated by single spaces, at least two (an object and an action): "Order Completed".
  "Object Action": /^[A-Z][A-Za-z0-9]*( [A-Z0-9][A-Za-z0-9]*)+$/,
  snake_case: /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/,
  camelCase: /^[a-z][a-z0-9]*([A-Z][a-z0-9]*)*$/,
};

/** Whether `name` follows the convention. @example follows("Order Completed", "Object Action") // true */
export function follows(name: string, convention: Convention): boolean {
  return TESTS[convention].test(name);
}

/**
 * The name with case and separators folded away: names equal after folding are the same name written
 * differently. @example fold("Order Completed") === fold("order_completed") // "ordercompleted"
 */
export function fold(name: string): string {
  return name.toLowerCase().replace(/[\s_\-.:/]+/g, "");
}

/** Levenshtein distance, stopping early once it exceeds `max` (returns max + 1 then). */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      if (v < best) best = v;
    }
    if (best > max) return max + 1;
    prev = row;
  }
  return prev[b.length]!;
}

/** Largest edit distance (on folded names) still suggested: about a fifth of the name, at least 1, at most 3. */
export function maxDistance(name: string): number {
  return Math.min(3, Math.max(1, Math.floor(fold(name).length / 5)));
}

export type Suggest = (name: string) => string | undefined;

/**
 * Compiles the known names into a suggester. `planned` names (the tracking plan's) never get a suggestion; any other
 * name gets the first known name before it (planned names, then `seen` names in the order given, e.g. most
 * frequent first) that is equal after folding, else the nearest in edit distance on folded names (within
 * maxDistance; ties go to the earlier name). So a rare drift points at the common spelling, never the reverse.
 * @example nameSuggester(["user_signup"])("user_Signedup") // "user_signup"
 */
export function nameSuggester(planned: Iterable<string>, seen: Iterable<string> = []): Suggest {
  const plannedSet = new Set(planned);
  const names: string[] = [];
  const position = new Map<string, number>();
  for (const n of [...plannedSet, ...seen]) {
    if (position.has(n)) continue;
    position.set(n, names.length);
    names.push(n);
  }
  const folded = names.map(fold);
  const byFold = new Map<string, number>();
  folded.forEach((f, i) => {
    if (!byFold.has(f)) byFold.set(f, i);
  });
  // Names repeat from event to event (the same unplanned property on every event of a release): each is looked
  // up once, not compared with every known name again. Bounded: cleared when full.
  const answers = new Map<string, string | undefined>();
  const suggest = (name: string): string | undefined => {
    if (plannedSet.has(name)) return undefined;
    const limit = position.get(name) ?? names.length;
    const f = fold(name);
    const same = byFold.get(f);
    if (same !== undefined && same < limit) return names[same];
    const max = maxDistance(name);
    let best: string | undefined;
    let bestDistance = max + 1;
    for (let i = 0; i < limit; i++) {
      const d = editDistance(f, folded[i]!, bestDistance - 1);
      if (d < bestDistance) {
        bestDistance = d;
        best = names[i];
      }
    }
    return best;
  };
  return (name) => {
    if (answers.has(name)) return answers.get(name);
    const answer = suggest(name);
    if (answers.size >= 1024) answers.clear();
    answers.set(name, answer);
    return answer;
  };
}

/**
 * The name rewritten in a convention (for a suggestion when nothing known is close).
 * @example inConvention("order_completed", "Object Action") // "Order Completed"
 */
export function inConvention(name: string, convention: Convention): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[\s_\-.:/]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
  if (words.length === 0) return name;
  switch (convention) {
    case "Object Action":
      return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(" ");
    case "snake_case":
      return words.join("_");
    case "camelCase":
      return words[0]! + words.slice(1).map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  }
}

export interface NameCheck {
  name: string;
  /** Whether it follows the configured convention; absent when none is configured. */
  convention_ok?: boolean;
  /** The known name it most likely means, or the name rewritten in the convention. */
  suggestion?: string;
}

/** Checks one name against a convention and known names. */
export function checkName(name: string, suggest: Suggest, convention?: Convention): NameCheck {
  const out: NameCheck = { name };
  const known = suggest(name);
  if (convention) {
    out.convention_ok = follows(name, convention);
    if (known === undefined && !out.convention_ok) out.suggestion = inConvention(name, convention);
  }
  if (known !== undefined) out.suggestion = known;
  return out;
}
