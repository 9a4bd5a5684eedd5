/**
 * Reads a Tracking API request body within Segment's limits: size checked before and while reading,
 * gzip/deflate inflated with a bound on the inflated size (a gzip bomb stops at the bound), UTF-8 checked,
 * JSON parsed whatever the Content-Type (analytics.js sends text/plain).
 */
import { LIMITS } from "../pipeline/normalize.ts";
import { ApiError } from "../api-error.ts";

const tooLarge = (what: string) =>
  new ApiError(413, "request_too_large", `${what} is larger than the ${LIMITS.maxRequestBytes / 1024} KB request limit`);

async function readBounded(stream: ReadableStream<Uint8Array>, max: number, what: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge(what);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, "invalid_encoding", `could not read the ${what}: ${(err as Error).message}`);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

async function readDeclared(req: Request, max: number): Promise<Uint8Array> {
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(await req.arrayBuffer());
  } catch (err) {
    throw new ApiError(400, "invalid_encoding", `could not read the request body: ${(err as Error).message}`);
  }
  if (raw.byteLength > max) throw tooLarge("request body");
  return raw;
}

export interface ReadBody {
  json: unknown;
  /** Size of the (inflated) JSON text in bytes. */
  bytes: number;
  /** The (inflated) JSON text itself. */
  text: string;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** @throws ApiError 400 / 413 / 415 naming the problem. */
export async function readJsonBody(req: Request): Promise<ReadBody> {
  const max = LIMITS.maxRequestBytes;
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > max) throw tooLarge("request body");
  const encoding = (req.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (!req.body) throw new ApiError(400, "invalid_json", "request body is empty");
  let stream: ReadableStream<Uint8Array> = req.body;
  if (encoding === "gzip" || encoding === "deflate") {
    stream = req.body.pipeThrough(new DecompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  } else if (encoding !== "identity") {
    throw new ApiError(415, "unsupported_encoding", `Content-Encoding "${encoding}" is not supported (use gzip, deflate or none)`);
  }
  // A declared length bounds a plain body: one native read instead of a loop over its chunks.
  const raw = encoding === "identity" && declared >= 0 ? await readDeclared(req, max) : await readBounded(stream, max, encoding === "identity" ? "request body" : "inflated request body");
  if (raw.byteLength === 0) throw new ApiError(400, "invalid_json", "request body is empty");
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    throw new ApiError(400, "invalid_encoding", "request body is not valid UTF-8");
  }
  try {
    return { json: JSON.parse(text), bytes: raw.byteLength, text };
  } catch (err) {
    const tooDeep = err instanceof RangeError;
    throw new ApiError(400, "invalid_json", tooDeep ? "request body is nested too deeply" : `request body is not valid JSON: ${(err as Error).message}`);
  }
}
