/**
 * Turning zod validation failures into {@link UserError}s that name the key (dotted for nested
 * settings), the bad value, and the valid choices, for both CLI flags and stack config.
 */
import type { z } from "zod";
import { UserError } from "./errors";

type AnySchema = z.core.$ZodType;

/** Unwrap optional/default/nullable/pipe wrappers to the schema underneath. */
function unwrap(schema: AnySchema): AnySchema {
  let s: AnySchema = schema;
  for (let i = 0; i < 10; i++) {
    const def = s._zod.def as { innerType?: AnySchema; in?: AnySchema; type: string };
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === "pipe" && def.in !== undefined) s = def.in;
    else break;
  }
  return s;
}

/** The keys an object schema accepts at a path, for "valid choices" of a misspelled key. */
export function keysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  let s = unwrap(schema);
  for (const p of path) {
    const shape = (s._zod.def as { shape?: Record<string, AnySchema> }).shape;
    const next = shape?.[String(p)];
    if (next === undefined) return [];
    s = unwrap(next);
  }
  const shape = (s._zod.def as { shape?: Record<string, AnySchema> }).shape;
  return shape === undefined ? [] : Object.keys(shape);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** The first issue of a failed parse as a {@link UserError}. */
export function zodToUserError(error: z.ZodError, input: unknown, schema: AnySchema): UserError {
  const issue = error.issues[0];
  if (issue === undefined) return new UserError({ key: "config", value: input, problem: "invalid.", hint: "Check the settings." });
  const named = issue.path.filter((p) => typeof p === "string");
  if (issue.code === "unrecognized_keys") {
    const key = [...named, issue.keys[0] ?? ""].join(".");
    return new UserError({
      key,
      value: key,
      problem: "unknown setting.",
      hint: "Check the spelling; settings are case-sensitive.",
      choices: keysAt(schema, issue.path),
    });
  }
  if (issue.code === "invalid_key") {
    // A map key broke the key rule: the key itself is the bad value, and the rule says why.
    const key = named.slice(0, -1).join(".") || "config";
    const message = issue.issues[0]?.message ?? issue.message;
    return new UserError({
      key,
      value: String(issue.path.at(-1) ?? ""),
      problem: `${message.endsWith(".") ? message : `${message}.`}`,
      hint: "Rename the key.",
    });
  }
  const value = valueAt(input, issue.path);
  const choices = issue.code === "invalid_value" ? issue.values.map(String) : [];
  return new UserError({
    key: named.join(".") || "config",
    value: value === undefined ? "(missing)" : value,
    problem: issue.message.endsWith(".") ? issue.message : `${issue.message}.`,
    hint: choices.length > 0 ? "Pick one of the valid choices." : "Fix the value and try again.",
    choices,
  });
}
