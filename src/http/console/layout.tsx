/** @jsxImportSource hono/jsx */
/**
 * The console's page frame and small shared pieces (hono/jsx, rendered on the worker; escaping is JSX's). All
 * assets are the worker's own: the style below and /console/app.js; no CDN, no web fonts.
 */
import { createContext, useContext, type Child } from "hono/jsx";

/** What the signed-in operator's token allows, as the pages offer it (the admin API refuses the rest anyway). */
export interface RightsView {
  id: string;
  role: string;
  replay: boolean;
  purge: boolean;
  readEvents: boolean;
  audit: boolean;
}

/** The signed-in operator's rights, for every page of a request (undefined when signed out). */
export const Rights = createContext<RightsView | undefined>(undefined);
export const useRights = () => useContext(Rights);

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5d6670;--line:#d5d9de;--accent:#0b5fff;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--grey:#8c959f}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#111418;--muted:#9aa4ae;--line:#2f353c;--accent:#6ea0ff;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--grey:#6e7681}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
header strong{margin-right:.5rem}nav{display:flex;flex-wrap:wrap;gap:.25rem .75rem;flex:1}
nav a{color:var(--fg);text-decoration:none;padding:.2rem .1rem;border-bottom:2px solid transparent}nav a[aria-current=page]{border-color:var(--accent)}
a{color:var(--accent)}main{padding:1rem;max-width:1280px;margin:0 auto}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
button,input,select{font:inherit;padding:.3rem .6rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}button{cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}button.danger{border-color:var(--bad);color:var(--bad)}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}.muted{color:var(--muted)}.note{padding:.5rem .75rem;border-left:4px solid var(--warn);background:color-mix(in srgb,var(--warn) 10%,transparent);margin:.5rem 0}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.8rem;margin:0 .2rem .2rem 0;border:1px solid currentColor;white-space:nowrap}
.s-delivered{color:var(--ok)}.s-retrying{color:var(--warn)}.s-dead_lettered,.s-blocked{color:var(--bad)}.s-filtered{color:var(--grey)}.s-quarantined{color:var(--warn)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem}.card{border:1px solid var(--line);border-radius:6px;padding:.75rem}
.card h2{margin-top:0}pre{white-space:pre-wrap;word-break:break-word;background:color-mix(in srgb,var(--fg) 6%,transparent);padding:.6rem;border-radius:4px;font-size:.85rem;max-height:60vh;overflow:auto}
#events tr{cursor:pointer}#events tr:hover,#events tr:focus{background:color-mix(in srgb,var(--accent) 10%,transparent)}
.live{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem}@media (max-width:900px){.live{grid-template-columns:1fr}}
.legend span{margin-right:.8rem}.sw{display:inline-block;width:.8em;height:.8em;margin-right:.25em;vertical-align:-1px}
@media (max-width:480px){main{padding:.6rem}th,td{padding:.3rem}.hide-s{display:none}}
`;

export const PAGES = [
  ["live", "Live"],
  ["delivery", "Delivery"],
  ["plan", "Tracking plan"],
  ["dead-letters", "Dead letters"],
  ["usage", "Usage"],
] as const;

export function Layout(props: { title: string; page?: string; csrf?: string; children: Child }) {
  const rights = useRights();
  const pages = rights?.audit ? [...PAGES, ["audit", "Audit"] as const] : PAGES;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{props.title} · Sluice console</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <header>
          <strong>Sluice</strong>
          {props.csrf ? (
            <>
              <nav aria-label="Console">
                {pages.map(([path, label]) => (
                  <a href={`/console/${path}`} aria-current={props.page === path ? "page" : undefined}>
                    {label}
                  </a>
                ))}
              </nav>
              {rights ? <span class="muted">{`${rights.id} (${rights.role})`}</span> : null}
              <form method="post" action="/console/sign-out">
                <input type="hidden" name="_csrf" value={props.csrf} />
                <button type="submit">Sign out</button>
              </form>
            </>
          ) : null}
        </header>
        <main>{props.children}</main>
        <script src="/console/app.js" defer></script>
      </body>
    </html>
  );
}

/** A hidden CSRF field for a form. */
export const Csrf = (props: { token: string }) => <input type="hidden" name="_csrf" value={props.token} />;

export const fmt = (n: number | undefined) => (n === undefined ? "–" : n.toLocaleString("en-US"));
export const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "–" : `${(n * 100).toFixed(n >= 0.999 && n < 1 ? 2 : 1)} %`);
export const when = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

/** Stacked bars, one per bucket: `series` in stacking order, colours by CSS variable. */
export function StackedBars(props: { label: string; buckets: string[]; series: { name: string; color: string; values: number[] }[] }) {
  const W = 600;
  const H = 120;
  const n = Math.max(props.buckets.length, 1);
  const totals = props.buckets.map((_, i) => props.series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const bw = W / n;
  return (
    <figure style="margin:0">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={props.label} preserveAspectRatio="none" style="max-height:160px">
        <title>{props.label}</title>
        {props.buckets.map((b, i) => {
          let y = H;
          return props.series.map((s) => {
            const v = s.values[i] ?? 0;
            if (v === 0) return null;
            const h = (v / max) * (H - 4);
            y -= h;
            return (
              <rect x={(i * bw + bw * 0.1).toFixed(1)} y={y.toFixed(1)} width={(bw * 0.8).toFixed(1)} height={h.toFixed(1)} fill={s.color}>
                <title>{`${b}: ${s.name} ${v}`}</title>
              </rect>
            );
          });
        })}
        <line x1="0" y1={H} x2={W} y2={H} stroke="var(--line)" />
      </svg>
      <div class="row muted" style="justify-content:space-between;margin:0;font-size:.8rem">
        <span>{props.buckets[0] ?? ""}</span>
        <span>{`${props.buckets[props.buckets.length - 1] ?? ""} · highest bar ${max}`}</span>
      </div>
      <figcaption class="legend muted">
        {props.series.map((s) => (
          <span>
            <i class="sw" style={`background:${s.color}`}></i>
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
