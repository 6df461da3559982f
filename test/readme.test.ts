/**
 * README stays true: the config reference lists exactly the keys the zod schema accepts, the
 * example-stack table matches what the plans choose, the two set-up commands are there (the test
 * one as .ci/run runs it), the package list is scripts/test-tools.sh's own, and no example prints
 * a development machine's path.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { readinessTimeoutSeconds } from "../components/machine/render";
import { decodeConfigValues, parseStackConfig, StackConfigSchema } from "../components/config/schema";
import { keysAt } from "../components/errors/zodErrors";
import { planForStack } from "../components/program/deploy";
import { stackFileConfig, stackNames, stackTarget } from "./helpers/stacks";

const README = readFileSync(path.resolve(__dirname, "..", "README.md"), "utf8");

/** Every leaf key of the schema, dotted (aws.ssh.keyName), nested objects expanded. */
function schemaKeys(prefix: string[] = []): string[] {
  const out: string[] = [];
  for (const key of keysAt(StackConfigSchema, prefix)) {
    const nested = keysAt(StackConfigSchema, [...prefix, key]);
    if (nested.length > 0) out.push(...schemaKeys([...prefix, key]));
    else out.push([...prefix, key].join("."));
  }
  return out;
}

describe("README", () => {
  it("gives the two set-up commands, the test one exactly as .ci/run runs it", () => {
    const testCommand = "bash scripts/test-tools.sh && npm ci && npm test";
    assert.ok(README.includes(`\n${testCommand}\n`));
    assert.match(
      readFileSync(path.resolve(__dirname, "..", ".ci", "run"), "utf8"),
      new RegExp(`^${testCommand.replace(/[.&]/g, "\\$&")}$`, "m"),
    );
    assert.ok(README.includes("npm ci && npx pulumi up -s dev"));
  });

  it("documents exactly the config keys the schema accepts", () => {
    const section = README.split("<!-- config-reference:start -->")[1]?.split("<!-- config-reference:end -->")[0] ?? "";
    const documented = [...section.matchAll(/^\| `([\w.]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), schemaKeys().sort());
  });

  it("shows each example stack as its plan does: type and price for AWS stacks, GPUs and format for the others", () => {
    for (const stack of stackNames()) {
      // The workstation stack needs its SSH key to validate; any text stands in for planning.
      const plan = planForStack(
        parseStackConfig(decodeConfigValues({ ...stackFileConfig(stack), "qwen3-serve:sshPrivateKey": "key" })),
      );
      const row = README.split("\n").find((l) => l.startsWith(`| \`${stack}\` |`));
      assert.ok(row, `no row for ${stack}`);
      if (stackTarget(stack) === "aws") {
        assert.ok(row.includes(plan.instance.type), `${stack}: ${plan.instance.type}`);
        assert.ok(
          row.includes(`| ${plan.instance.pricePerHour.toFixed(3)} |`),
          `${stack}: ${plan.instance.pricePerHour}`,
        );
      } else {
        assert.ok(
          row.includes(`${plan.instance.gpuCount} x ${plan.instance.gpu} | n/a |`),
          `${stack}: ${plan.instance.gpuCount} x ${plan.instance.gpu}`,
        );
        assert.ok(row.toLowerCase().includes(plan.quantization.toLowerCase()), `${stack}: ${plan.quantization}`);
      }
    }
  });

  it("lists exactly the Debian packages scripts/test-tools.sh installs", () => {
    const ci = readFileSync(path.resolve(__dirname, "..", "scripts", "test-tools.sh"), "utf8");
    const installed = /^packages=\(([^)]*)\)/m.exec(ci)?.[1]?.trim().split(/\s+/) ?? [];
    const sentence = /installs, only where missing, ([\s\S]*?) from Debian/.exec(README)?.[1] ?? "";
    const documented = [...sentence.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    assert.ok(installed.length > 0, "no packages=(...) line in scripts/test-tools.sh");
    assert.deepEqual([...documented].sort(), [...installed].sort());
  });

  it("prints no path of a development machine", () => {
    assert.deepEqual(README.match(/(?:\/tmp\/|\/home\/|\/root\/|\/Users\/|\/work\/)\S*/g), null);
    // The bench example writes where its --json points, as the command prints it.
    assert.ok(README.includes("--duration 10 --json bench.json\n"));
    assert.ok(README.includes("\nWrote bench.json\n"));
  });

  it("states the dev readiness limit the plan gives", () => {
    const plan = planForStack(parseStackConfig(decodeConfigValues(stackFileConfig("dev"))));
    const minutes = Math.round(readinessTimeoutSeconds(plan, false) / 60);
    assert.ok(README.includes(`${minutes} minutes for dev`), `${minutes} minutes`);
  });
});
