/**
 * Plain-text layout shared by the terminal reports (the plan, the smoke test's tables). Pure:
 * strings in, strings out.
 */

/** Rows as aligned columns: each column as wide as its widest cell, two spaces apart, the last one unpadded. */
export function table(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
  );
}
