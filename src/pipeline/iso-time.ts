/**
 * ISO-8601 times without a `Date` per value: the canonical form `toISOString()` writes (`YYYY-MM-DDTHH:MM:SS.sssZ`,
 * years 0000–9999) read and written by arithmetic, byte-identical to `Date.parse` / `toISOString()`. Anything else
 * (other forms, dates `Date` rolls over such as Feb 30 or 24:00, other years) is left to `Date`.
 */

const MS_PER_DAY = 86_400_000;
/** 10000-01-01T00:00:00.000Z: from here on `toISOString()` writes a six-digit year. */
const YEAR_10000 = 253_402_300_800_000;
/** 0000-01-01T00:00:00.000Z. */
const YEAR_0 = -62_167_219_200_000;

/** Days from 1970-01-01 to the civil date (proleptic Gregorian; month 1–12). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The value of `n` ASCII digits of `s` from `at`, or -1 when one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * ms since the epoch of a string in the canonical form `toISOString()` writes, whose fields need no rolling over;
 * undefined for any other string (the caller asks `Date.parse`). For such a string,
 * `new Date(parseCanonicalIso(s)).toISOString() === s`.
 * @example parseCanonicalIso("2026-02-30T00:00:00.000Z") // undefined (Date rolls it over to March 2)
 */
export function parseCanonicalIso(s: string): number | undefined {
  if (s.length !== 24 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58) return undefined;
  if (s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46 || s.charCodeAt(23) !== 90) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const sec = digits(s, 17, 2);
  const ms = digits(s, 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0) return undefined;
  if (d > (mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo]!)) return undefined;
  return daysFromCivil(y, mo, d) * MS_PER_DAY + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms;
}

const pad2 = (n: number): string => (n < 10 ? "0" : "") + n;
const pad3 = (n: number): string => (n < 10 ? "00" : n < 100 ? "0" : "") + n;
const pad4 = (n: number): string => (n < 10 ? "000" : n < 100 ? "00" : n < 1000 ? "0" : "") + n;

/**
 * `new Date(t).toISOString()`, for any `t` a `Date` holds (the caller checks the range: beyond it this throws, as
 * `toISOString()` does); years 0000–9999 without a `Date`.
 */
export function formatIso(t: number): string {
  const ms = Math.trunc(t); // TimeClip, as new Date(t)
  if (!(ms >= YEAR_0 && ms < YEAR_10000)) return new Date(t).toISOString();
  const days = Math.floor(ms / MS_PER_DAY);
  let rest = ms - days * MS_PER_DAY;
  // civil_from_days (H. Hinnant)
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const mi = Math.floor(rest / 60_000);
  rest -= mi * 60_000;
  const sec = Math.floor(rest / 1000);
  return `${pad4(y)}-${pad2(m)}-${pad2(d)}T${pad2(h)}:${pad2(mi)}:${pad2(sec)}.${pad3(rest - sec * 1000)}Z`;
}
