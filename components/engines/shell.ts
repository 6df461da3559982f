/**
 * Shell quoting for the engines' argv: the machine's env file and the plan's printed command both need it.
 */

/** Quote a value for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
