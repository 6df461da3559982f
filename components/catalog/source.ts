/**
 * Provenance for a catalog row: where a figure was read and when.
 * Every table in this folder carries one per row so a reader can re-check a number at its source.
 */
export interface Source {
  /** Public https URL of the primary material, or several where the row draws on more than one. */
  readonly url: string | readonly string[];
  /** Date the figure was read or published, YYYY-MM-DD. */
  readonly asOf: string;
  /** What the source is for this row, or a caveat, when the URL alone does not say. */
  readonly note?: string;
}
