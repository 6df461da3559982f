/**
 * What the command-line entry points share: strict flag parsing that reports an unknown or
 * malformed flag as one line with the nearest flag, the valid flags and usage, never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { nearestChoice } from "../components/errors/zodErrors";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flag values for an options table. */
export type FlagValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>["values"];

/**
 * node's parseArgs error in our words. Its own text varies by Node version and, for a value that
 * starts with a dash, tells the user about `--flag=-XYZ` syntax instead of the missing value.
 */
export function flagErrorMessage(e: unknown, options: ParseArgsOptionsConfig): string {
  const code = (e as { code?: unknown }).code;
  const msg = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']+)'/.exec(msg)?.[1] ?? "";
  const flag = quoted.split(/[ =]/)[0] ?? quoted;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    // Compare names without dashes, so "--" does not make every short flag look close.
    const near = nearestChoice(flag.replace(/^-+/, ""), Object.keys(options));
    return `Unknown option '${flag}': not a flag of this command.${near === undefined ? "" : ` Did you mean --${near}?`}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const takesValue = options[flag.replace(/^--/, "")]?.type === "string";
    return takesValue ? `${flag} needs a value: ${flag} <value>.` : `${flag} takes no value: give ${flag} alone.`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL")
    return `unexpected argument "${quoted}": every value follows its flag (--flag value).`;
  return msg.split("\n")[0] ?? msg;
}

/** Parse flags strictly; on a bad flag print the reason, the valid flags and the usage to stderr and return null. */
export function parseFlags<O extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: O,
  usage: string,
): FlagValues<O> | null {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    process.stderr.write(
      `error: ${flagErrorMessage(e, options)}\nValid flags: ${Object.keys(options)
        .map((k) => `--${k}`)
        .join(", ")}\n${usage}\n`,
    );
    return null;
  }
}
