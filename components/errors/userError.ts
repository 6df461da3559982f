/**
 * Errors a user can cause. Each names the setting, the bad value, how to fix it and the valid
 * choices, so entry points can print it as one short paragraph instead of a stack trace.
 */

/** The parts of a user error, before it is worded for one entry point. */
export interface UserErrorParts {
  /** The request field at fault, e.g. `model`; entry points relabel it (`--model`, `qwen3-serve:model`). */
  readonly key: string;
  /** The offending value as the user gave it. */
  readonly value: unknown;
  /** What is wrong with it. */
  readonly problem: string;
  /** What to do about it. */
  readonly hint: string;
  /** The valid choices, when the set is closed. */
  readonly choices?: readonly string[];
}

/** A mistake in user input, reported without a stack trace. */
export class UserError extends Error {
  /** The request field at fault. */
  readonly key: string;
  /** The offending value, as text. */
  readonly value: string;
  /** What is wrong with it. */
  readonly problem: string;
  /** What to do about it. */
  readonly hint: string;
  /** The valid choices, when the set is closed. */
  readonly choices: readonly string[];

  constructor(parts: UserErrorParts) {
    const value = typeof parts.value === "string" ? parts.value : JSON.stringify(parts.value);
    super(formatUserError(parts.key, value, parts.problem, parts.hint, parts.choices ?? []));
    this.name = "UserError";
    this.key = parts.key;
    this.value = value;
    this.problem = parts.problem;
    this.hint = parts.hint;
    this.choices = parts.choices ?? [];
  }

  /** The same error, its key shown as the entry point names it (a flag or a config key). */
  relabel(label: (key: string) => string): UserError {
    return new UserError({
      key: label(this.key),
      value: this.value,
      problem: this.problem,
      hint: this.hint,
      choices: this.choices,
    });
  }
}

function formatUserError(
  key: string,
  value: string,
  problem: string,
  hint: string,
  choices: readonly string[],
): string {
  const lines = [`${key} = ${JSON.stringify(value)}: ${problem}`, hint];
  if (choices.length > 0) lines.push(`Valid choices: ${choices.join(", ")}`);
  return lines.join("\n");
}

/** True for errors meant for the user rather than a bug report. */
export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
