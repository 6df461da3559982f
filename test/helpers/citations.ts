/**
 * The citation rule the catalog and engine tests share: a source is `{ url, asOf }`, its url a public
 * https address (or a list of them) with no whitespace, its date a real YYYY-MM-DD no later than today.
 */

/** A YYYY-MM-DD date. */
export const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The day the sources were last checked; a later date is a typo. */
const CHECKED = "2026-11-30";

/** What is wrong with one citation: not a { url, asOf } object, a url that is not public https, or a bad date. */
export function citationProblems(where: string, cited: unknown): string[] {
  if (cited === null || typeof cited !== "object") return [`${where}: ${JSON.stringify(cited)} is not { url, asOf }`];
  const s = cited as Record<string, unknown>;
  const urls = Array.isArray(s.url) ? (s.url as unknown[]) : [s.url];
  const bad = urls.length === 0 ? [`${where}: no url`] : [];
  for (const u of urls) {
    let ok = false;
    try {
      ok = typeof u === "string" && !/\s/.test(u) && new URL(u).protocol === "https:";
    } catch {}
    if (!ok) bad.push(`${where}: url ${JSON.stringify(u)}`);
  }
  const asOf = String(s.asOf);
  if (!DATE.test(asOf) || Number.isNaN(Date.parse(asOf)) || asOf > CHECKED) bad.push(`${where}: asOf ${asOf}`);
  return bad;
}
