/**
 * Turning zod validation failures into {@link UserError}s that name the key (dotted for nested
 * settings), the bad value, and the valid choices, for both CLI flags and stack config.
 */
import { globalRegistry, type z } from "zod";
import { distance } from "fastest-levenshtein";
import { UserError } from "./userError";

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

/** The schema at a path (array elements by index), wrappers kept, for its description and enum options. */
function schemaAt(schema: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let s: AnySchema | undefined = schema;
  for (const p of path) {
    const def: { shape?: Record<string, AnySchema>; element?: AnySchema } | undefined =
      s === undefined ? undefined : (unwrap(s)._zod.def as { shape?: Record<string, AnySchema>; element?: AnySchema });
    s = typeof p === "number" ? def?.element : def?.shape?.[String(p)];
  }
  return s;
}

/** A schema's `.describe()` text, looked for on each wrapper (optional, default) down to the core. */
function descriptionOf(schema: AnySchema | undefined): string | undefined {
  let s = schema;
  for (let i = 0; i < 10 && s !== undefined; i++) {
    const text = globalRegistry.get(s)?.description;
    if (text !== undefined) return text;
    const def = s._zod.def as { innerType?: AnySchema; in?: AnySchema; type: string };
    s = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
  }
  return undefined;
}

/** The options of an enum at a path, or of an array-of-enum's elements. */
function enumChoices(s: AnySchema | undefined): string[] {
  const def = s?._zod.def as { type?: string; entries?: Record<string, unknown>; element?: AnySchema } | undefined;
  if (def?.type === "enum" && def.entries !== undefined) return Object.values(def.entries).map(String);
  return def?.type === "array" && def.element !== undefined ? enumChoices(unwrap(def.element)) : [];
}

/**
 * The closest choice to a misspelt value, or undefined when nothing is close. A value with a dot
 * whose stem is a choice (an instance type given as a family) suggests that stem.
 */
export function nearestChoice(value: string, choices: readonly string[]): string | undefined {
  const v = value.trim().toLowerCase();
  if (v === "" || choices.length === 0) return undefined;
  const stem = v.split(".")[0] ?? v;
  const byStem = v.includes(".") ? choices.find((c) => c.toLowerCase() === stem) : undefined;
  if (byStem !== undefined) return byStem;
  const ranked = choices
    .map((c) => ({ c, d: distance(v, c.toLowerCase()), prefix: c.toLowerCase().startsWith(v) ? 0 : 1 }))
    .sort((a, b) => a.d - b.d || a.prefix - b.prefix || a.c.localeCompare(b.c));
  const best = ranked[0];
  // Half the longer name is as far as a typo stretches; beyond that any suggestion is a guess.
  return best !== undefined && best.d <= Math.max(2, Math.floor(Math.max(v.length, best.c.length) / 2))
    ? best.c
    : undefined;
}

/** "Did you mean X? " for a misspelt value, or "" when nothing is close. */
export function didYouMean(value: unknown, choices: readonly string[]): string {
  const near = typeof value === "string" ? nearestChoice(value, choices) : undefined;
  return near === undefined || near === value ? "" : `Did you mean ${near}? `;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a map of settings",
};

const kindOf = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "a list"
      : typeof v === "object"
        ? "a map"
        : typeof v === "string"
          ? "text"
          : typeof v === "number"
            ? "a number"
            : typeof v;

/** zod's own English wording; a schema's custom message ("must be at least 1") never starts like this. */
const ZOD_DEFAULT = /^(Invalid|Too (small|big)|Unrecognized|Expected)\b/;

/** What was wrong, in words, for issues zod words in its own terms. */
function problemFor(issue: z.core.$ZodIssue, value: unknown): string {
  if (value === undefined && issue.code !== "too_small") return "missing: this setting is required.";
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message.endsWith(".") ? issue.message : `${issue.message}.`;
  switch (issue.code) {
    case "invalid_type":
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${kindOf(value)}.`;
    case "invalid_value":
      return "not one of the valid choices.";
    case "too_small":
      if (issue.origin === "array")
        return `must list at least ${String(issue.minimum)} item${issue.minimum === 1 ? "" : "s"}.`;
      if (issue.origin === "string")
        return issue.minimum === 1 ? "is empty." : `must be at least ${String(issue.minimum)} characters.`;
      return `must be ${issue.inclusive === false ? "above" : "at least"} ${String(issue.minimum)}.`;
    case "too_big":
      if (issue.origin === "array") return `must list at most ${String(issue.maximum)} items.`;
      if (issue.origin === "string") return `must be at most ${String(issue.maximum)} characters.`;
      return `must be ${issue.inclusive === false ? "below" : "at most"} ${String(issue.maximum)}.`;
    case "invalid_format":
      return `does not have the expected form${issue.format === "regex" ? "" : ` (${issue.format})`}.`;
    default:
      return "is not a valid value.";
  }
}

/** The first issue of a failed parse as a {@link UserError}. */
export function zodToUserError(error: z.ZodError, input: unknown, schema: AnySchema): UserError {
  const issue = error.issues[0];
  if (issue === undefined)
    return new UserError({ key: "config", value: input, problem: "invalid.", hint: "Check the settings." });
  const named = issue.path.filter((p) => typeof p === "string");
  if (issue.code === "unrecognized_keys") {
    const key = [...named, issue.keys[0] ?? ""].join(".");
    const choices = keysAt(schema, issue.path);
    return new UserError({
      key,
      value: key,
      problem: "unknown setting.",
      hint: `${didYouMean(issue.keys[0], choices)}Check the spelling; settings are case-sensitive.`,
      choices,
    });
  }
  if (issue.code === "invalid_key") {
    // A map key broke the key rule: the key itself is the bad value, and the rule says why.
    const key = named.slice(0, -1).join(".") || "config";
    const message = issue.issues[0]?.message ?? issue.message;
    return new UserError({
      key,
      value: String(issue.path.at(-1) ?? ""),
      problem: ZOD_DEFAULT.test(message)
        ? "not an allowed name."
        : `${message.endsWith(".") ? message : `${message}.`}`,
      hint: "Rename the key.",
    });
  }
  const value = valueAt(input, issue.path);
  const at = schemaAt(schema, issue.path);
  const choices =
    issue.code === "invalid_value" ? issue.values.map(String) : enumChoices(at === undefined ? undefined : unwrap(at));
  const described = descriptionOf(at);
  const expected =
    issue.code === "invalid_type"
      ? `Give ${EXPECTED[issue.expected] ?? issue.expected}.`
      : "Fix the value and try again.";
  const fallback = choices.length > 0 ? "Pick one of the valid choices." : expected;
  const pick = choices.length > 0 ? " Pick one of the valid choices." : "";
  const own = described === undefined ? fallback : `${described.endsWith(".") ? described : `${described}.`}${pick}`;
  return new UserError({
    key: named.join(".") || "config",
    value: value === undefined ? "(missing)" : value,
    problem: problemFor(issue, value),
    hint: `${didYouMean(value, choices)}${own}`,
    choices,
  });
}
