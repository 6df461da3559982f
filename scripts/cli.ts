/**
 * What the command-line entry points share: strict flag parsing that reports an unknown or
 * malformed flag as one line with the valid flags and usage, never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flag values for an options table. */
export type FlagValues<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>["values"];

/** Parse flags strictly; on a bad flag print the reason, the valid flags and the usage to stderr and return null. */
export function parseFlags<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O, usage: string): FlagValues<O> | null {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${msg}\nValid flags: ${Object.keys(options).map((k) => `--${k}`).join(", ")}\n${usage}\n`);
    return null;
  }
}
