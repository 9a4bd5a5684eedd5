/**
 * The names report (`GET /admin/names`, `sluice names`): every event name a source sent in a period, its count,
 * whether it is planned, whether it follows the naming convention, and a "did you mean" suggestion. Pure.
 */
import type { Convention } from "../plans/naming.ts";
import { checkName, nameSuggester } from "../plans/naming.ts";
import { eventCounts, type HourRow } from "./rules.ts";

export interface NameRow {
  name: string;
  count: number;
  planned: boolean;
  convention_ok?: boolean;
  suggestion?: string;
}

export interface NamesReport {
  source: string;
  since: string;
  convention?: Convention;
  names: NameRow[];
  /** Planned names not seen in the period. */
  unseen_planned: string[];
}

/**
 * @param rows the source scope's hourly counters (StatsObject.readHours) since `since`.
 * @example namesReport("web", "2026-06-01T00", rows, ["Order Completed"], "Object Action").names[0]
 */
export function namesReport(source: string, since: string, rows: readonly HourRow[], planned: readonly string[], convention?: Convention): NamesReport {
  const counts = eventCounts(rows);
  const plannedSet = new Set(planned);
  // Suggestions point at planned names, then at names seen more often.
  const suggest = nameSuggester(planned, counts.keys());
  const names = [...counts].map(([name, count]): NameRow => {
    const check = checkName(name, suggest, convention);
    return { name, count, planned: plannedSet.has(name), ...(check.convention_ok !== undefined ? { convention_ok: check.convention_ok } : {}), ...(check.suggestion !== undefined ? { suggestion: check.suggestion } : {}) };
  });
  return { source, since, ...(convention ? { convention } : {}), names, unseen_planned: planned.filter((p) => !counts.has(p)) };
}
