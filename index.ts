/**
 * The Pulumi program. Until the AWS target lands this only computes the plan from stack config and
 * exports it, so `pulumi preview` shows what would be built without creating anything.
 */
import * as pulumi from "@pulumi/pulumi";
import { isUserError } from "./components/core/errors";
import { buildPlan, type Plan } from "./components/core/plan";
import { parsePlanRequest } from "./components/core/request";

const config = new pulumi.Config("qwen3-serve");

function planFromConfig(): Plan {
  try {
    return buildPlan(
      parsePlanRequest({
        model: config.require("model"),
        engine: config.require("engine"),
        ...(config.get("quantization") !== undefined ? { quantization: config.get("quantization") } : {}),
        ...(config.getNumber("context") !== undefined ? { context: config.getNumber("context") } : {}),
        ...(config.getNumber("concurrency") !== undefined ? { concurrency: config.getNumber("concurrency") } : {}),
      }),
    );
  } catch (e) {
    // A config mistake is reported as one line naming the key, never as a stack trace.
    if (isUserError(e)) throw new pulumi.RunError(e.relabel((k) => `qwen3-serve:${k}`).message);
    throw e;
  }
}

/** The sizing decision for this stack. */
export const plan = planFromConfig();
