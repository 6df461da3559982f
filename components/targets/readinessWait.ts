/**
 * The readiness step of `pulumi up`: a local command that runs this package's readiness waiter
 * (scripts/wait-ready.ts) until a real completion succeeds through the endpoint. Its settings go in
 * the environment, so the API key is never on a command line.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { nodeScriptCommand } from "../machine/nodeScript";

/** What the waiter needs to know, and when it runs again. */
export interface ReadinessWaitArgs {
  /** The endpoint's base URL, without /v1. */
  readonly baseUrl: pulumi.Input<string>;
  /** The API key; the step marks it secret, which makes its whole environment secret. */
  readonly apiKey: pulumi.Input<string>;
  /** The `model` value the test completion sends. */
  readonly model: string;
  /** How long to wait before `pulumi up` fails (on AWS it follows the type EC2 launched, known only then). */
  readonly timeoutSeconds: pulumi.Input<number>;
  /** Whether a bootstrap serves its status document under the base URL (not on the Docker target). */
  readonly hasStatus: boolean;
  /** The step runs on create and again only when one of these changes (a new machine or container). */
  readonly triggers: pulumi.Input<unknown>[];
}

/** Declare `<name>-ready` under `parent`, after `dependsOn`; its stdout resolves once the endpoint answered. */
export function declareReadinessWait(
  name: string,
  args: ReadinessWaitArgs,
  opts: { readonly parent: pulumi.Resource; readonly dependsOn: pulumi.Resource[] },
): pulumi.Output<string> {
  const wait = new command.local.Command(
    `${name}-ready`,
    {
      create: nodeScriptCommand("wait-ready"),
      environment: {
        QS_BASE_URL: args.baseUrl,
        QS_API_KEY: pulumi.secret(args.apiKey),
        QS_MODEL: args.model,
        ...(args.hasStatus ? {} : { QS_HAS_STATUS: "false" }),
        QS_TIMEOUT_SECONDS: pulumi.output(args.timeoutSeconds).apply(String),
        QS_POLL_SECONDS: "10",
      },
      logging: "stdoutAndStderr",
      triggers: args.triggers,
    },
    { parent: opts.parent, dependsOn: opts.dependsOn },
  );
  return wait.stdout;
}
