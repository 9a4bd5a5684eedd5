/**
 * Reading a Segment event's loosely typed fields the way vendor kinds need them: values of the wrong type read as
 * absent (a client may send anything), and absent values are left out of what a vendor receives.
 */

/** The value when it is a plain object, else an empty one. */
export function obj(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A non-empty string, or a number as text (ids are often sent as numbers); else undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : undefined;
}

/** A finite number, or numeric text; else undefined. */
export function num(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** An object of the entries whose value is set (not undefined, null or ""). */
export function defined(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) if (v !== undefined && v !== null && v !== "") out[k] = v;
  return out;
}

/** The browser's name and version in a user agent, as the vendors' own libraries report them. */
export function browserOf(userAgent: string): { name?: string; version?: string } {
  const rules: [string, RegExp][] = [
    ["Microsoft Edge", /Edg(?:e|A|iOS)?\/([\d.]+)/],
    ["Opera", /(?:OPR|Opera)\/([\d.]+)/],
    ["Samsung Internet", /SamsungBrowser\/([\d.]+)/],
    ["Firefox", /(?:Firefox|FxiOS)\/([\d.]+)/],
    ["Chrome", /(?:Chrome|CriOS)\/([\d.]+)/],
    ["Mobile Safari", /Version\/([\d.]+).*Mobile.*Safari/],
    ["Safari", /Version\/([\d.]+).*Safari/],
  ];
  for (const [name, re] of rules) {
    const m = re.exec(userAgent);
    if (m) return { name, version: m[1] };
  }
  return {};
}

/** The operating system in a user agent, when the event's `context.os` does not say. */
export function osOf(userAgent: string): { name?: string; version?: string } {
  const rules: [string, RegExp][] = [
    ["iOS", /(?:iPhone|iPad|iPod).*? OS (\d+[_\d]*)/],
    ["Android", /Android (\d+(?:\.\d+)*)/],
    ["Windows", /Windows NT (\d+\.\d+)/],
    ["Mac OS X", /Mac OS X (\d+[_.\d]*)/],
    ["Chrome OS", /CrOS \S+ ([\d.]+)/],
    ["Linux", /Linux()/],
  ];
  for (const [name, re] of rules) {
    const m = re.exec(userAgent);
    if (m) return { name, version: m[1] ? m[1].replace(/_/g, ".") : undefined };
  }
  return {};
}

/** ms since the epoch of the event's `timestamp` (normalization always sets it), else of `receivedAt`. */
export function eventTime(event: { timestamp: string; receivedAt: string }): number {
  const t = Date.parse(event.timestamp);
  return Number.isFinite(t) ? t : Date.parse(event.receivedAt);
}
