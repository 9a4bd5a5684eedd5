/** @jsxImportSource hono/jsx */
/** The console's pages (data in, JSX out): no I/O here; console.tsx reads what they show. */
import type { DestinationMetrics } from "../../metrics.ts";
import type { ArchiveEntry } from "../../storage/archive-object.ts";
import type { SourceUsage } from "../../usage/report.ts";
import type { PlanCounters, Breakdown } from "../plan-routes.ts";
import type { AuditRecord } from "../../access/audit.ts";
import { Csrf, fmt, Layout, pct, StackedBars, useRights, when } from "./layout.tsx";

export function SignIn(props: { error?: string; status?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in</h1>
      <form method="post" action="/console/sign-in" style="max-width:28rem">
        <p class="muted">Paste an operator token. It is checked once; the browser then holds a session cookie, never the token.</p>
        {props.error ? (
          <p class="note" role="alert">
            {props.error}
          </p>
        ) : null}
        <div class="row">
          <label for="token">Operator token</label>
          <input id="token" name="token" type="password" autocomplete="off" required autofocus style="flex:1;min-width:14rem" />
        </div>
        <button class="primary" type="submit">
          Sign in
        </button>
      </form>
    </Layout>
  );
}

export function ErrorPage(props: { csrf?: string; status: number; message: string }) {
  return (
    <Layout title="Error" csrf={props.csrf}>
      <h1>{`Error ${props.status}`}</h1>
      <p class="note" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/console/live">Back to the console</a>
      </p>
    </Layout>
  );
}

export function Live(props: { csrf: string; sources: string[]; source: string; destinations: string[] }) {
  return (
    <Layout title="Live" page="live" csrf={props.csrf}>
      <h1>Live events</h1>
      <div class="row" role="group" aria-label="Source">
        <span class="muted">Source:</span>
        {props.sources.map((s) => (
          <a href={`/console/live?source=${encodeURIComponent(s)}`} aria-current={s === props.source ? "true" : undefined} style={s === props.source ? "font-weight:700" : ""}>
            {s}
          </a>
        ))}
      </div>
      <section id="live" data-source={props.source} data-destinations={props.destinations.join(",")}>
        <form class="row" id="filters" role="search" onsubmit="return false">
          <label>
            Type{" "}
            <select name="type">
              <option value="">all</option>
              {["track", "page", "screen", "identify", "group", "alias"].map((t) => (
                <option value={t}>{t}</option>
              ))}
            </select>
          </label>
          <input name="name" placeholder="event name" aria-label="Event name" size={14} />
          <input name="userId" placeholder="userId" aria-label="userId" size={12} />
          <input name="messageId" placeholder="messageId" aria-label="messageId" size={12} />
          <button type="button" id="pause" aria-pressed="false">
            Pause
          </button>
        </form>
        <p id="status" class="muted" aria-live="polite">
          Connecting…
        </p>
        <p id="sampling" class="note" hidden></p>
        <div class="live">
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Type</th>
                  <th>Event</th>
                  <th class="hide-s">userId</th>
                  <th>Destinations</th>
                </tr>
              </thead>
              <tbody id="events"></tbody>
            </table>
          </div>
          <aside id="detail" aria-live="polite">
            <p class="muted">Select an event (click, or Tab to it and press Enter) to see its JSON, plan findings and what each destination did.</p>
          </aside>
        </div>
      </section>
    </Layout>
  );
}

export interface DestinationView {
  id: string;
  kind: string;
  metrics: DestinationMetrics;
  buckets: string[];
  series: { delivered: number[]; retried: number[]; dead_lettered: number[]; filtered: number[] };
}

export function Delivery(props: { csrf: string; window: string; windows: readonly string[]; destinations: DestinationView[] }) {
  return (
    <Layout title="Delivery" page="delivery" csrf={props.csrf}>
      <h1>Delivery overview</h1>
      <div class="row" role="group" aria-label="Window">
        {props.windows.map((w) => (
          <a href={`/console/delivery?window=${w}`} aria-current={w === props.window ? "true" : undefined} style={w === props.window ? "font-weight:700" : ""}>
            {`last ${w}`}
          </a>
        ))}
      </div>
      <div class="cards">
        {props.destinations.map((d) => {
          const m = d.metrics;
          const filtered = Object.values(m.filtered).reduce((a, b) => a + b, 0);
          const received = m.routed + filtered;
          const settled = m.delivered + m.dead_lettered;
          return (
            <section class="card" aria-labelledby={`d-${d.id}`} data-destination={d.id}>
              <h2 id={`d-${d.id}`}>
                {d.id} <span class="muted">({d.kind})</span>
              </h2>
              <table>
                <tbody>
                  <tr>
                    <th>Received</th>
                    <td class="n">{fmt(received)}</td>
                  </tr>
                  <tr>
                    <th>Filtered</th>
                    <td class="n">{fmt(filtered)}</td>
                  </tr>
                  {Object.entries(m.filtered).map(([reason, n]) => (
                    <tr>
                      <td style="padding-left:1.5rem">{reason}</td>
                      <td class="n">{fmt(n)}</td>
                    </tr>
                  ))}
                  <tr>
                    <th>Delivered</th>
                    <td class="n" data-metric="delivered">
                      {fmt(m.delivered)}
                    </td>
                  </tr>
                  <tr>
                    <th>Retrying (attempts failed, retried)</th>
                    <td class="n">{fmt(m.retried)}</td>
                  </tr>
                  <tr>
                    <th>Dead-lettered</th>
                    <td class="n">{fmt(m.dead_lettered)}</td>
                  </tr>
                  {Object.entries(m.failed).map(([code, n]) => (
                    <tr>
                      <td style="padding-left:1.5rem">{`failed ${code}`}</td>
                      <td class="n">{fmt(n)}</td>
                    </tr>
                  ))}
                  <tr>
                    <th>Success rate</th>
                    <td class="n">{settled === 0 ? "–" : pct(m.delivered / settled)}</td>
                  </tr>
                  <tr>
                    <th>p95 latency</th>
                    <td class="n">{m.latency_ms.p95 === undefined ? "–" : `≤ ${fmt(m.latency_ms.p95)} ms`}</td>
                  </tr>
                </tbody>
              </table>
              <StackedBars
                label={`${d.id}: events per hour`}
                buckets={d.buckets}
                series={[
                  { name: "delivered", color: "var(--ok)", values: d.series.delivered },
                  { name: "retried", color: "var(--warn)", values: d.series.retried },
                  { name: "dead-lettered", color: "var(--bad)", values: d.series.dead_lettered },
                  { name: "filtered", color: "var(--grey)", values: d.series.filtered },
                ]}
              />
            </section>
          );
        })}
      </div>
    </Layout>
  );
}

/** Inspect (in lists), replay (while stored) and purge (confirmed on the next page) of one archive entry. */
function EntryActions(props: { csrf: string; base: string; entry: ArchiveEntry; inspect?: boolean }) {
  const e = props.entry;
  const rights = useRights();
  return (
    <div class="row" style="margin:0">
      {props.inspect && rights?.readEvents ? <a href={`${props.base}/entry/${encodeURIComponent(e.id)}`}>Inspect</a> : null}
      {e.status === "stored" && rights?.replay ? (
        <form method="post" action={`${props.base}/replay`}>
          <Csrf token={props.csrf} />
          <input type="hidden" name="ids" value={e.id} />
          <button type="submit" aria-label={`Replay ${e.id}`}>
            Replay
          </button>
        </form>
      ) : null}
      {rights?.purge ? (
        <form method="post" action={`${props.base}/purge`}>
          <Csrf token={props.csrf} />
          <input type="hidden" name="ids" value={e.id} />
          <button type="submit" class="danger" aria-label={`Purge ${e.id}`}>
            Purge
          </button>
        </form>
      ) : null}
    </div>
  );
}

/** A table of archive entries (quarantine or dead letters) with inspect, replay and purge. */
function ArchiveTable(props: { csrf: string; base: string; entries: ArchiveEntry[]; by: "source" | "destination" }) {
  if (props.entries.length === 0) return <p class="muted">Nothing here.</p>;
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Stored</th>
            <th>{props.by === "source" ? "Source" : "Destination"}</th>
            <th>Event</th>
            <th>Category</th>
            <th class="hide-s">Reason</th>
            <th>Status</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr data-entry={e.id}>
              <td>{when(e.at)}</td>
              <td>{props.by === "source" ? e.source : e.destination}</td>
              <td>{`${e.name}${e.events > 1 ? ` (${e.events} events)` : ""}`}</td>
              <td>{e.category}</td>
              <td class="hide-s">{e.reason}</td>
              <td>{e.status}</td>
              <td>
                <EntryActions csrf={props.csrf} base={props.base} entry={e} inspect />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Flash(props: { message?: string }) {
  return props.message ? (
    <p class="note" role="status">
      {props.message}
    </p>
  ) : null;
}

function BreakdownRows(props: { title: string; b: Breakdown }) {
  const rows = Object.entries(props.b).filter(([k]) => k !== "total");
  return (
    <>
      <tr>
        <th>{props.title}</th>
        <td class="n">{fmt(props.b.total)}</td>
      </tr>
      {rows.map(([k, v]) => (
        <tr>
          <td style="padding-left:1.5rem">{k}</td>
          <td class="n">{fmt(v)}</td>
        </tr>
      ))}
    </>
  );
}

export interface PlanView {
  id: string;
  revision: string;
  sources: string[];
  counters: PlanCounters & { violations: Breakdown };
}

export function Plan(props: { csrf: string; plans: PlanView[]; entries: ArchiveEntry[]; totals: Record<string, number>; flash?: string }) {
  // Violations by event and type, from the quarantine's samples.
  const groups = new Map<string, { name: string; category: string; count: number; sample: ArchiveEntry }>();
  for (const e of props.entries) {
    const key = `${e.name}\u0000${e.category}`;
    const g = groups.get(key);
    if (g) g.count += e.events;
    else groups.set(key, { name: e.name, category: e.category, count: e.events, sample: e });
  }
  const readEvents = useRights()?.readEvents;
  return (
    <Layout title="Tracking plan" page="plan" csrf={props.csrf}>
      <h1>Tracking plan</h1>
      <Flash message={props.flash} />
      {props.plans.length === 0 ? <p class="muted">No source has a tracking plan.</p> : null}
      <div class="cards">
        {props.plans.map((p) => (
          <section class="card">
            <h2>
              {p.id} <span class="muted">{`rev ${p.revision} · ${p.sources.join(", ") || "no source"}`}</span>
            </h2>
            <p class="muted">Last 7 days</p>
            <table>
              <tbody>
                <tr>
                  <th>Validated</th>
                  <td class="n">{fmt(p.counters.validated)}</td>
                </tr>
                <tr>
                  <th>With violations</th>
                  <td class="n">{fmt(p.counters.with_violations)}</td>
                </tr>
                <BreakdownRows title="Violations by type" b={p.counters.violations} />
                <BreakdownRows title="Blocked" b={p.counters.blocked} />
                <BreakdownRows title="Quarantined" b={p.counters.quarantined} />
                <tr>
                  <th>Replayed</th>
                  <td class="n">{fmt(p.counters.replayed)}</td>
                </tr>
              </tbody>
            </table>
          </section>
        ))}
      </div>
      <h2>Violations by event and type (quarantined)</h2>
      {groups.size === 0 ? (
        <p class="muted">No quarantined events.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Event</th>
                <th>Violation types</th>
                <th class="n">Events</th>
                <th>Sample</th>
              </tr>
            </thead>
            <tbody>
              {[...groups.values()].map((g) => (
                <tr>
                  <td>{g.name}</td>
                  <td>{g.category}</td>
                  <td class="n">{fmt(g.count)}</td>
                  <td>
                    {readEvents ? <a href={`/console/plan/entry/${encodeURIComponent(g.sample.id)}`}>{g.sample.reason || "inspect"}</a> : g.sample.reason}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Quarantine</h2>
      <p class="muted">{`stored ${fmt(props.totals.stored)} · replaying ${fmt(props.totals.replaying)} · replayed ${fmt(props.totals.replayed)}`}</p>
      {useRights()?.replay ? (
        <form method="post" action="/console/plan/replay" class="row">
          <Csrf token={props.csrf} />
          <input type="hidden" name="all" value="yes" />
          <button type="submit">Replay all stored</button>
          <span class="muted">Events that pass the plan now are delivered; the others are kept.</span>
        </form>
      ) : null}
      <ArchiveTable csrf={props.csrf} base="/console/plan" entries={props.entries} by="source" />
    </Layout>
  );
}

export function DeadLetters(props: { csrf: string; entries: ArchiveEntry[]; totals: Record<string, number>; destinations: string[]; destination?: string; category?: string; flash?: string }) {
  const groups = new Map<string, number>();
  for (const e of props.entries) groups.set(`${e.destination}\u0000${e.category}`, (groups.get(`${e.destination}\u0000${e.category}`) ?? 0) + e.events);
  return (
    <Layout title="Dead letters" page="dead-letters" csrf={props.csrf}>
      <h1>Dead letters</h1>
      <Flash message={props.flash} />
      <form method="get" action="/console/dead-letters" class="row" role="search">
        <label>
          Destination{" "}
          <select name="destination">
            <option value="">all</option>
            {props.destinations.map((d) => (
              <option value={d} selected={d === props.destination}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <input name="category" placeholder="reason code (http_400…)" aria-label="Reason code" value={props.category ?? ""} />
        <button type="submit">Filter</button>
      </form>
      <p class="muted">{`stored ${fmt(props.totals.stored)} · replaying ${fmt(props.totals.replaying)} · replayed ${fmt(props.totals.replayed)}`}</p>
      {groups.size > 0 ? (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Destination</th>
                <th>Reason</th>
                <th class="n">Events</th>
              </tr>
            </thead>
            <tbody>
              {[...groups].map(([k, n]) => {
                const [d, cat] = k.split("\u0000") as [string, string];
                return (
                  <tr>
                    <td>
                      <a href={`/console/dead-letters?destination=${encodeURIComponent(d)}`}>{d}</a>
                    </td>
                    <td>
                      <a href={`/console/dead-letters?destination=${encodeURIComponent(d)}&category=${encodeURIComponent(cat)}`}>{cat}</a>
                    </td>
                    <td class="n">{fmt(n)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {useRights()?.replay ? (
        <form method="post" action="/console/dead-letters/replay" class="row">
          <Csrf token={props.csrf} />
          {props.destination ? <input type="hidden" name="destination" value={props.destination} /> : null}
          {props.category ? <input type="hidden" name="category" value={props.category} /> : null}
          <input type="hidden" name="all" value="yes" />
          <button type="submit">Replay all shown</button>
        </form>
      ) : null}
      <h2>Entries</h2>
      <ArchiveTable csrf={props.csrf} base="/console/dead-letters" entries={props.entries} by="destination" />
    </Layout>
  );
}

export function Entry(props: { csrf: string; page: "plan" | "dead-letters"; entry: ArchiveEntry; record: unknown }) {
  const base = `/console/${props.page}`;
  return (
    <Layout title={`Entry ${props.entry.id}`} page={props.page} csrf={props.csrf}>
      <p>
        <a href={base}>← Back</a>
      </p>
      <h1>{props.entry.name}</h1>
      <table>
        <tbody>
          {(["id", "source", "destination", "category", "reason", "attempts", "events", "status"] as const).map((k) => (
            <tr>
              <th>{k}</th>
              <td>{String(props.entry[k])}</td>
            </tr>
          ))}
          <tr>
            <th>stored</th>
            <td>{when(props.entry.at)}</td>
          </tr>
        </tbody>
      </table>
      <EntryActions csrf={props.csrf} base={base} entry={props.entry} />
      <h2>Record</h2>
      <pre>{JSON.stringify(props.record, null, 2)}</pre>
    </Layout>
  );
}

export function ConfirmPurge(props: { csrf: string; page: "plan" | "dead-letters"; fields: Record<string, string>; count: number }) {
  const base = `/console/${props.page}`;
  return (
    <Layout title="Confirm purge" page={props.page} csrf={props.csrf}>
      <h1>Purge?</h1>
      <p role="alert">{`This deletes ${props.count} stored ${props.count === 1 ? "entry" : "entries"} and their events for good; they cannot be replayed afterwards.`}</p>
      <form method="post" action={`${base}/purge`} class="row">
        <Csrf token={props.csrf} />
        {Object.entries(props.fields).map(([k, v]) => (
          <input type="hidden" name={k} value={v} />
        ))}
        <input type="hidden" name="confirm" value="yes" />
        <button type="submit" class="danger">
          Purge for good
        </button>
        <a href={base}>Cancel</a>
      </form>
    </Layout>
  );
}

export function Usage(props: { csrf: string; sources: SourceUsage[]; since: string }) {
  return (
    <Layout title="Usage" page="usage" csrf={props.csrf}>
      <h1>Usage</h1>
      <p class="muted">{`Per source and UTC day since ${props.since}; MTU per month against its budget.`}</p>
      {props.sources.map((s) => {
        const days = [...s.days].reverse();
        return (
          <section class="card" style="margin-bottom:1rem">
            <h2>{s.source}</h2>
            {s.months.map((m) => (
              <p>
                {`${m.month}: MTU ${fmt(m.mtu)}`}
                {m.budget ? ` of ${fmt(m.budget)} (${pct(m.share)})` : " (no budget set)"}
                {m.budget ? (
                  <svg viewBox="0 0 200 10" width="200" height="10" role="img" aria-label={`MTU ${pct(m.share)} of budget`} style="margin-left:.5rem">
                    <rect x="0" y="0" width="200" height="10" fill="var(--line)" />
                    <rect x="0" y="0" width={Math.min(200, 200 * (m.share ?? 0)).toFixed(1)} height="10" fill={(m.share ?? 0) >= 1 ? "var(--bad)" : (m.share ?? 0) >= 0.8 ? "var(--warn)" : "var(--ok)"} />
                  </svg>
                ) : null}
              </p>
            ))}
            <StackedBars label={`${s.source}: events accepted per day`} buckets={days.map((d) => d.day)} series={[{ name: "events accepted", color: "var(--accent)", values: days.map((d) => d.accepted) }]} />
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Day</th>
                    <th class="n">Events</th>
                    <th class="n">Users</th>
                    <th class="n hide-s">Requests</th>
                    <th class="n hide-s">Duplicates</th>
                    <th class="n">Rejected</th>
                  </tr>
                </thead>
                <tbody>
                  {s.days.map((d) => (
                    <tr>
                      <td>{d.day}</td>
                      <td class="n">{fmt(d.accepted)}</td>
                      <td class="n">{fmt(d.users)}</td>
                      <td class="n hide-s">{fmt(d.requests)}</td>
                      <td class="n hide-s">{fmt(d.duplicates)}</td>
                      <td class="n">{fmt(Object.values(d.rejected).reduce((a, b) => a + b, 0))}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        );
      })}
    </Layout>
  );
}

/** The audit trail, newest first, filtered by token, action prefix and time. */
export function Audit(props: { csrf: string; records: AuditRecord[]; filters: Record<string, string | undefined>; next?: string }) {
  const f = props.filters;
  return (
    <Layout title="Audit trail" page="audit" csrf={props.csrf}>
      <h1>Audit trail</h1>
      <form method="get" action="/console/audit" class="row">
        <input name="token" placeholder="token id" aria-label="Token id" value={f.token ?? ""} />
        <input name="action" placeholder="action (replay, purge…)" aria-label="Action" value={f.action ?? ""} />
        <input name="from" placeholder="from (ISO time)" aria-label="From" value={f.from ?? ""} />
        <input name="to" placeholder="to (ISO time)" aria-label="To" value={f.to ?? ""} />
        <button type="submit">Filter</button>
      </form>
      {props.records.length === 0 ? (
        <p class="muted">No records.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                {["When", "Token", "Action", "Target", "Filters", "Status", "Result"].map((h) => (
                  <th>{h}</th>
                ))}
                <th class="hide-s">IP</th>
              </tr>
            </thead>
            <tbody>
              {props.records.map((r) => (
                <tr>
                  <td>{when(r.at)}</td>
                  <td>{`${r.token} (${r.role})`}</td>
                  <td>{r.action}</td>
                  <td>{r.target}</td>
                  <td>
                    <code>{JSON.stringify(r.filters)}</code>
                  </td>
                  <td>{r.status}</td>
                  <td>{r.error ?? Object.entries(r.counts ?? {}).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}</td>
                  <td class="hide-s">{r.ip}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.next ? <a href={props.next}>Older records</a> : null}
    </Layout>
  );
}
