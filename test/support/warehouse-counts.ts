/** The rows a warehouse load of `events` should hold per table (Segment's schema): the loader's tests and the e2e share it. */
import { eventTableName } from "../../destinations/postgres/naming.ts";

const TABLE_OF_TYPE: Record<string, string> = { page: "pages", screen: "screens", group: "groups", alias: "aliases" };

export function expectedCounts(events: readonly { type: string; event?: unknown; userId?: unknown }[]): Record<string, number> {
  const want: Record<string, number> = {};
  const add = (table: string) => (want[table] = (want[table] ?? 0) + 1);
  const users = new Set<string>();
  for (const e of events) {
    if (e.type === "track") {
      add("tracks");
      add(eventTableName(String(e.event)));
    } else if (e.type === "identify") {
      add("identifies");
      if (e.userId) users.add(String(e.userId));
    } else add(TABLE_OF_TYPE[e.type]!);
  }
  if (users.size) want.users = users.size;
  return want;
}
