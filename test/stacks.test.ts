/**
 * The stack inventory the smoke client and the reaper share (components/stacks/workspace.ts),
 * against the fake `pulumi` (test/fixtures/fake-pulumi.js), which keeps a selected stack and
 * blinds secrets without --show-secrets as the real CLI does. It proves the smoke client's
 * `--stack` read gets the secret API key, names the stack with --stack, and leaves the user's
 * selected stack as it was (the Automation API it used before ran `pulumi stack select`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readStackOutputs, SourceError } from "../components/stacks/outputs";
import { pulumiWorkspace } from "../components/stacks/workspace";
import { type FakeStack, fakePulumi } from "./helpers/fakePulumi";

const lab: FakeStack = {
  name: "lab",
  project: "qwen3-serve",
  resourceCount: 9,
  outputs: { endpoint: "http://203.0.113.7:8080/v1", apiKey: "k-123", modelName: "Qwen3-8B" },
  secretOutputs: ["apiKey"],
  history: [{ kind: "update", config: {} }],
};

describe("reading a stack's outputs for the smoke client", () => {
  it("shows the secret API key, names the stack with --stack, and never selects it: dev stays selected", async () => {
    const { run, state } = fakePulumi({ legacy: false, project: "qwen3-serve", current: "dev", stacks: [lab] });
    const outputs = await readStackOutputs("lab", pulumiWorkspace(run));
    assert.deepEqual(outputs, {
      endpoint: "http://203.0.113.7:8080/v1",
      apiKey: "k-123",
      modelName: "Qwen3-8B",
    });
    assert.deepEqual(state().calls, [
      ["stack", "output", "--json", "--show-secrets", "--stack", "lab", "--non-interactive"],
    ]);
    assert.equal(state().current, "dev");
  });

  it("the reaper's read leaves secrets blinded", async () => {
    const { run } = fakePulumi({ legacy: false, project: "qwen3-serve", current: null, stacks: [lab] });
    assert.equal((await pulumiWorkspace(run).outputs("lab")).apiKey, "[secret]");
  });

  it("a stack the backend does not have is one SourceError with the CLI's own reason", async () => {
    const { run } = fakePulumi({ legacy: false, project: "qwen3-serve", current: "dev", stacks: [lab] });
    await assert.rejects(readStackOutputs("nope", pulumiWorkspace(run)), (e: unknown) => {
      assert.ok(e instanceof SourceError);
      assert.equal(e.message, `cannot read the outputs of stack "nope": no stack named 'nope' found`);
      return true;
    });
  });
});
