/**
 * The `format` values the JSON Schema compiler checks, each a predicate built from regexes compiled once (with
 * the `u` flag) plus, for dates and times, range checks that read digits in place (nothing is allocated).
 * An unknown format is a build error, never ignored.
 *
 * Choices where specs allow several: `date-time` accepts `T`, `t` or a space between date and time (RFC 3339
 * §5.6 note) and requires an offset; `time` makes the offset optional (as ajv-formats and @cfworker/json-schema
 * do); seconds may be 60 (leap second); `email` is the usual practical subset (dot-atom local part, a domain
 * with at least one dot); `uri` must be absolute (scheme first) and ASCII (RFC 3986 characters or %XX);
 * `uuid` accepts an optional `urn:uuid:` prefix; `ipv6` has no zone id; `hostname` follows RFC 1123.
 */

const digit2 = (s: string, i: number): number => (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);
const digit4 = (s: string, i: number): number => digit2(s, i) * 100 + digit2(s, i + 2);

function validDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  if (month === 2) return day <= (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28);
  return day <= (month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31);
}

/** hh:mm:ss at `i`, then an optional fraction and offset already checked by the caller's regex. */
function validClock(s: string, i: number): boolean {
  return digit2(s, i) <= 23 && digit2(s, i + 3) <= 59 && digit2(s, i + 6) <= 60;
}

/** A `±hh:mm` offset ending the string, if any, has hours ≤ 23 and minutes ≤ 59. */
function validOffset(s: string): boolean {
  const n = s.length;
  const sign = s.charCodeAt(n - 6);
  if (n < 6 || (sign !== 43 /* + */ && sign !== 45) /* - */ || s.charCodeAt(n - 3) !== 58 /* : */) return true;
  return digit2(s, n - 5) <= 23 && digit2(s, n - 2) <= 59;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/u;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/u;
const TIME = /^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?$/u;
const EMAIL = new RegExp(
  "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*" +
    "@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
  "u",
);
const URI = /^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/u;
const UUID = /^(?:urn:uuid:)?[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$/u;
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4_BODY = `${OCTET}(?:\\.${OCTET}){3}`;
const IPV4 = new RegExp(`^${IPV4_BODY}$`, "u");
const H = "[0-9A-Fa-f]{1,4}";
/** RFC 4291 §2.2: eight groups, one `::` for a run of zero groups, an IPv4 tail in place of the last two. */
const IPV6 = new RegExp(
  "^(?:" +
    [
      `(?:${H}:){7}${H}`,
      `(?:${H}:){6}${IPV4_BODY}`,
      `::(?:${H}:){0,5}(?:${H}|${IPV4_BODY})`,
      `::(?:${H}:){0,6}${H}`,
      `::`,
      ...[1, 2, 3, 4, 5, 6].map((k) => `(?:${H}:){${k}}(?::${H}){1,${7 - k}}`),
      ...[1, 2, 3, 4, 5].map((k) => `(?:${H}:){${k}}(?::${H}){0,${5 - k}}:${IPV4_BODY}`),
      `(?:${H}:){1,7}:`,
    ].join("|") +
    ")$",
  "u",
);
const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/u;

/** Format name → predicate on strings (a non-string always passes `format`, as JSON Schema says). */
export const FORMATS: Readonly<Record<string, (s: string) => boolean>> = Object.freeze({
  "date-time": (s: string) =>
    DATE_TIME.test(s) && validDay(digit4(s, 0), digit2(s, 5), digit2(s, 8)) && validClock(s, 11) && validOffset(s),
  date: (s: string) => DATE.test(s) && validDay(digit4(s, 0), digit2(s, 5), digit2(s, 8)),
  time: (s: string) => TIME.test(s) && validClock(s, 0) && validOffset(s),
  email: (s: string) => EMAIL.test(s),
  uri: (s: string) => URI.test(s),
  uuid: (s: string) => UUID.test(s),
  ipv4: (s: string) => IPV4.test(s),
  ipv6: (s: string) => IPV6.test(s),
  hostname: (s: string) => HOSTNAME.test(s),
});
