/**
 * What `pulumi up` runs for one `command:remote:Command` whose declared inputs went from `old` to
 * `next`, so a test can replay the exact sequence over real SSH. The rules, from pulumi-command
 * v1.2.1 (read 2026-11-30):
 * - provider/pkg/provider/common/inputs.go: `triggers` is tagged replaceOnChanges, so a changed
 *   trigger replaces the resource; no other input of a remote Command is.
 * - provider/pkg/provider/remote/commandController.go: Create runs `create`; Update runs `update`,
 *   or `create` when there is none, with the new inputs (stdin, connection); Delete runs the
 *   `delete` of the old state, over the old state's connection; every run pipes that state's
 *   `stdin` (remote/commandOutputs.go, run).
 * - Pulumi's engine orders a replacement delete-then-create under deleteBeforeReplace, and
 *   create-then-delete otherwise; unchanged inputs run nothing.
 */

/** The inputs of a remote Command that decide what runs, as the mock monitor recorded them. */
export interface RemoteInputs {
  readonly create: string;
  readonly update?: string;
  readonly delete?: string;
  readonly stdin?: unknown;
  readonly triggers?: unknown[];
  readonly connection: unknown;
  readonly logging?: string;
}

/** One command the provider runs: which inputs it comes from (old state or new), the command line and its stdin. */
export interface Step {
  readonly kind: "create" | "update" | "delete";
  readonly inputs: RemoteInputs;
  readonly command: string;
  readonly stdin: unknown;
}

const withoutTriggers = (i: RemoteInputs): string => JSON.stringify({ ...i, triggers: undefined });

/** The steps `pulumi up` takes from `old` (null: not yet created) to `next`. */
export function commandSteps(old: RemoteInputs | null, next: RemoteInputs, deleteBeforeReplace: boolean): Step[] {
  const create: Step = { kind: "create", inputs: next, command: next.create, stdin: next.stdin };
  if (old === null) return [create];
  if (JSON.stringify(old.triggers ?? []) !== JSON.stringify(next.triggers ?? [])) {
    const del: Step[] =
      old.delete === undefined ? [] : [{ kind: "delete", inputs: old, command: old.delete, stdin: old.stdin }];
    return deleteBeforeReplace ? [...del, create] : [create, ...del];
  }
  if (withoutTriggers(old) === withoutTriggers(next)) return [];
  return [{ kind: "update", inputs: next, command: next.update ?? next.create, stdin: next.stdin }];
}
