/**
 * Durable Object per source for the console's Live view: a bounded ring buffer of the recent events the router
 * described (src/live/live.ts) and the consoles watching, as hibernatable WebSockets. The router asks `watched()`
 * now and then and publishes only while it answers true; each batch is stored, then sent to every socket. A socket
 * opened for a token without read_events gets each event's metadata only, never its body.
 */
import { DurableObject } from "cloudflare:workers";
import type { LiveBatch, LiveRecord } from "../live/live.ts";

/** Events kept for a console that connects (newest first on connect). */
export const RING_SIZE = 500;
/** The true rate is counted over this window. */
const RATE_WINDOW_MS = 60_000;

/**
 * Request header on a socket's upgrade: "yes" when it may receive event bodies; anything else gets metadata only.
 * The console sets it on every socket it forwards, whatever the browser sent.
 */
export const LIVE_BODIES_HEADER = "x-sluice-live-bodies";
/** Socket tag of a console that gets metadata only. */
const METADATA_ONLY = "metadata-only";

/** A record as a socket without read_events gets it: no body (`json`), marked `withheld`. */
export type LiveRecordView = LiveRecord | (Omit<LiveRecord, "json" | "truncated"> & { withheld: true });

function metadataOnly(records: LiveRecord[]): LiveRecordView[] {
  return records.map(({ json: _body, truncated: _cut, ...meta }) => ({ ...meta, withheld: true as const }));
}

/** What a socket receives: events (newest last), and the true arrival count over the last minute. */
export interface LiveMessage {
  records: LiveRecordView[];
  /** Events routed over the last minute, shown or not. */
  lastMinute: number;
  /** Of them, how many are in `records` of some message (fewer when the router sampled). */
  shownLastMinute: number;
}

export class LiveObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS ring (seq INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS batches (at INTEGER NOT NULL, total INTEGER NOT NULL, shown INTEGER NOT NULL)");
  }

  /** Whether any console is connected. */
  watched(): boolean {
    return this.ctx.getWebSockets().length > 0;
  }

  /** Stores a batch in the ring (dropping the oldest beyond RING_SIZE) and sends it to every console. */
  publish(batch: LiveBatch): void {
    const sql = this.ctx.storage.sql;
    for (const r of batch.records) sql.exec("INSERT INTO ring (record) VALUES (?)", JSON.stringify(r));
    sql.exec("DELETE FROM ring WHERE seq <= (SELECT MAX(seq) FROM ring) - ?", RING_SIZE);
    sql.exec("INSERT INTO batches (at, total, shown) VALUES (?, ?, ?)", batch.at, batch.total, batch.records.length);
    sql.exec("DELETE FROM batches WHERE at < ?", Date.now() - RATE_WINDOW_MS);
    const rate = this.rate();
    const text = JSON.stringify({ records: batch.records, ...rate } satisfies LiveMessage);
    let meta: string | undefined;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(this.ctx.getTags(ws).includes(METADATA_ONLY) ? (meta ??= JSON.stringify({ records: metadataOnly(batch.records), ...rate } satisfies LiveMessage)) : text);
      } catch {
        // closing: the hibernation API drops it
      }
    }
  }

  private rate(): Pick<LiveMessage, "lastMinute" | "shownLastMinute"> {
    const row = this.ctx.storage.sql.exec<{ total: number | null; shown: number | null }>("SELECT SUM(total) AS total, SUM(shown) AS shown FROM batches WHERE at >= ?", Date.now() - RATE_WINDOW_MS).one();
    return { lastMinute: row.total ?? 0, shownLastMinute: row.shown ?? 0 };
  }

  /** The console's WebSocket (the worker authenticated it): accepted for hibernation, sent the ring at once. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const { 0: client, 1: server } = new WebSocketPair();
    const bodies = request.headers.get(LIVE_BODIES_HEADER) === "yes";
    this.ctx.acceptWebSocket(server, bodies ? [] : [METADATA_ONLY]);
    const records = this.ctx.storage.sql.exec<{ record: string }>("SELECT record FROM ring ORDER BY seq").toArray().map((r) => JSON.parse(r.record) as LiveRecord);
    server.send(JSON.stringify({ records: bodies ? records : metadataOnly(records), ...this.rate() } satisfies LiveMessage));
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "ping") ws.send(JSON.stringify({ pong: true }));
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    try {
      ws.close(code === 1005 ? 1000 : code, "closed");
    } catch {
      // already closed
    }
  }
}
