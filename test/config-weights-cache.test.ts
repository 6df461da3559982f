/**
 * `aws.weightsCache`: the stack config key that puts an AWS stack's weights behind the shared S3 mirror. It takes
 * off (the default) or s3, and s3 needs a pinned modelRevision, since the mirror keys each model by exact revision.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseStackConfig } from "../components/config/schema";
import { UserError } from "../components/errors/userError";

const REV = "0123456789abcdef0123456789abcdef01234567";
const DIGEST = "b".repeat(64);
const stack = (aws: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseStackConfig({ model: "Qwen3-8B", engine: "vllm", ...extra, aws: { allowedCidrs: ["10.0.0.0/8"], ...aws } });
const weightsCacheOf = (c: ReturnType<typeof parseStackConfig>): unknown =>
  c.target === "aws" ? c.aws.weightsCache : null;
const userError = (f: () => unknown): UserError => {
  try {
    f();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  return assert.fail("no UserError");
};

describe("aws.weightsCache", () => {
  it("defaults to off; accepts off, and s3 with a pinned Hugging Face commit or Ollama digest", () => {
    assert.equal(weightsCacheOf(stack({})), "off");
    assert.equal(weightsCacheOf(stack({ weightsCache: "off" })), "off");
    assert.equal(weightsCacheOf(stack({ weightsCache: "s3" }, { modelRevision: REV })), "s3");
    assert.equal(
      weightsCacheOf(stack({ weightsCache: "s3" }, { model: "qwen3:8b", engine: "ollama", modelRevision: DIGEST })),
      "s3",
    );
  });

  it("refuses any other value (efs, S3, true) as a UserError naming aws.weightsCache and listing the choices off, s3", () => {
    for (const bad of ["efs", "S3", true]) {
      const e = userError(() => stack({ weightsCache: bad }));
      assert.equal(e.key, "aws.weightsCache", String(bad));
      assert.deepEqual(e.choices, ["off", "s3"], String(bad));
      assert.match(e.message, /\nValid choices: off, s3$/, String(bad));
    }
  });

  it("s3 without modelRevision: the UserError names aws.weightsCache = s3, why, the fix (set qwen3-serve:modelRevision) and the choices", () => {
    const e = userError(() => stack({ weightsCache: "s3" }));
    assert.equal(e.key, "aws.weightsCache");
    assert.equal(e.value, "s3");
    assert.equal(
      e.message,
      'aws.weightsCache = "s3": the S3 weights mirror keys each model by its exact revision, and this stack pins none.\n' +
        "Set qwen3-serve:modelRevision to the model's 40-hex Hugging Face commit (vLLM, SGLang) or its 64-hex Ollama " +
        "manifest digest (the digest /api/tags reports), or set aws.weightsCache: off.\n" +
        "Valid choices: off, s3",
    );
  });

  it("s3 on a fleet needs modelRevision too (every replica reads the same pinned revision)", () => {
    const fleet = { fleet: { maxReplicas: 2 }, idleMinutes: 30, idleAction: "terminate" };
    assert.equal(userError(() => stack({ weightsCache: "s3" }, fleet)).key, "aws.weightsCache");
    assert.equal(weightsCacheOf(stack({ weightsCache: "s3" }, { ...fleet, modelRevision: REV })), "s3");
  });
});
