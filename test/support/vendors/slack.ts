/**
 * A Slack incoming webhook as Slack documents it (api.slack.com/messaging/webhooks): POST JSON `{text}` to the
 * webhook's path; about one message per second (the stand-in notes any two messages closer than 900 ms).
 */
import type { VendorRequest } from "./stand-in.ts";

export function slackChecker(path: string, minIntervalMs = 900) {
  let last = 0;
  return (req: VendorRequest): string[] => {
    const problems: string[] = [];
    const now = Date.now();
    if (last > 0 && now - last < minIntervalMs) problems.push(`a message ${now - last} ms after the previous one`);
    last = now;
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (req.url.pathname !== path) problems.push(`path ${req.url.pathname}`);
    const body = req.json as { text?: unknown } | undefined;
    if (!body || typeof body.text !== "string" || body.text === "") problems.push("no text");
    else if (body.text.length > 40_000) problems.push(`text of ${body.text.length} characters`);
    return problems;
  };
}

export const slackLines = (req: VendorRequest): string[] => String((req.json as { text?: string })?.text ?? "").split("\n");
