/**
 * The `plan` CLI as a user runs it: a real child process, checking exit codes, that --json prints
 * exactly one JSON object, and that mistakes print a short reason on stderr with no stack trace.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function plan(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/plan.ts", ...args],
      // A guard against a hung child only, far above the 1-3 s a run takes, so a loaded machine does not fail it.
      { cwd: ROOT, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const NO_STACK = /^\s+at /m;

describe("plan CLI", () => {
  it("--json prints exactly one JSON object: the request echoed, the chosen instance, its price and the KV cache", async () => {
    const r = await plan(
      "--model",
      "qwen3:30b-a3b",
      "--engine",
      "vllm",
      "--quant",
      "fp8",
      "--context",
      "64k",
      "--concurrency",
      "2",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const p = JSON.parse(r.stdout) as Record<string, unknown> & {
      instance: { type: string; gpuCount: number; gpuMemoryGiB: number; pricePerHour: number };
      memory: { perGpuGiB: number; kvCacheGiB: number };
    };
    // g7e.2xlarge: one RTX PRO 6000 at $3.36312/h (the GPU catalog's us-east-1 row); 97,887 MiB / 1024 = 95.59 GiB.
    assert.equal(p.instance.type, "g7e.2xlarge");
    assert.equal(p.instance.gpuCount, 1);
    assert.equal(p.instance.gpuMemoryGiB, 95.59);
    assert.equal(p.instance.pricePerHour, 3.36312);
    // KV: 2 x 48 layers x 4 KV heads x 128 x 2 bytes = 98,304 B/token, x 65,536 tokens x 2 sequences = 12 GiB.
    assert.equal(p.memory.kvCacheGiB, 12);
    assert.ok(p.memory.perGpuGiB > 12 && p.memory.perGpuGiB <= p.instance.gpuMemoryGiB, `${p.memory.perGpuGiB}`);
    assert.equal(p.tensorParallelSize, 1);
    assert.equal(p.contextLength, 65536);
    assert.equal(p.quantization, "fp8");
    assert.equal(p.concurrency, 2);
  });

  it("prints a readable plan: request, choice, cost, memory, why not cheaper, alternatives", async () => {
    const r = await plan("--model", "Qwen3-8B", "--engine", "vllm");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "Request   Qwen3-8B (Qwen/Qwen3-8B) on vLLM, bf16, context 32,768 x 1 sequence, on-demand");
    assert.equal(lines[1], "Chosen    g6e.xlarge: 1 x L40S (44.7 GiB each, CC 8.9), 4 vCPU, 32 GiB RAM");
    assert.equal(lines[2], "Cost      $1.861/h, $1,359/month at 730 h (on-demand, us-east-1, prices as of 2026-01-21)");
    assert.ok(lines.includes("Memory per GPU: needs 24.4 GiB of 44.7 GiB"));
    assert.ok(lines.includes("  g6.xlarge     $0.805/h  needs 24.4 GiB per GPU at TP 1, has 22.4"));
    assert.ok(lines.includes("Alternatives:"));
  });

  const bad: [string, string[], RegExp][] = [
    [
      "bad engine",
      ["--model", "qwen3:8b", "--engine", "tgi"],
      /^error: --engine = "tgi": .*\n.*\nValid choices: vllm, sglang, ollama\n$/,
    ],
    [
      "unknown model",
      ["--model", "qwen4", "--engine", "vllm"],
      /^error: --model = "qwen4": not a Qwen3 model we know\.\nDid you mean Qwen3-8B, /,
    ],
    [
      "bad quantization for the engine",
      ["--model", "qwen3:8b", "--engine", "ollama", "--quant", "awq"],
      /^error: --quant = "awq": .*\n.*\nValid choices: q4_K_M, q8_0, fp16\n$/,
    ],
    [
      "unknown flag",
      ["--model", "qwen3:8b", "--engine", "vllm", "--gpu", "h100"],
      /^error: Unknown option '--gpu': not a flag of this command\.\nValid flags: --model, --engine, --quant, /,
    ],
    [
      "misspelt flag",
      ["--model", "qwen3:8b", "--engine", "vllm", "--max-prise", "2"],
      /^error: Unknown option '--max-prise': not a flag of this command\. Did you mean --max-price\?\nValid flags: /,
    ],
    [
      "flag without its value",
      ["--engine", "vllm", "--model"],
      /^error: --model needs a value: --model <value>\.\nValid flags: /,
    ],
    [
      "value given to a switch",
      ["--model", "qwen3:8b", "--engine", "vllm", "--spot=yes"],
      /^error: --spot takes no value: give --spot alone\.\n/,
    ],
    [
      "stray argument",
      ["--model", "qwen3:8b", "--engine", "vllm", "g6e"],
      /^error: unexpected argument "g6e": every value follows its flag \(--flag value\)\.\n/,
    ],
    [
      "misspelt instance type",
      ["--model", "qwen3:8b", "--engine", "vllm", "--instance-types", "g6e.xlarg"],
      new RegExp(
        /^error: --instance-types = "g6e\.xlarg": not one of the valid choices\.\n/.source +
          /Did you mean g6e\.xlarge\? Pick one of the valid choices\.\nValid choices: g4dn\.xlarge, /.source,
      ),
    ],
    [
      "instance type as a family",
      ["--model", "qwen3:8b", "--engine", "vllm", "--families", "g6e.2xlarge"],
      /^error: --families = "g6e\.2xlarge": not one of the valid choices\.\nDid you mean g6e\? /,
    ],
    [
      "unknown region, with the nearest name",
      ["--model", "qwen3:8b", "--engine", "vllm", "--region", "eu-wst-1"],
      new RegExp(
        /^error: --region = "eu-wst-1": not one of the valid choices\.\nDid you mean eu-west-1\? /.source +
          /[^\n]*\nValid choices: us-east-1, us-west-2, eu-west-1, ap-northeast-1\n$/.source,
      ),
    ],
    [
      "instance type the region does not offer",
      ["--model", "qwen3:8b", "--engine", "vllm", "--region", "eu-west-1", "--instance-types", "g6e.xlarge"],
      new RegExp(
        /^error: --instance-types = "g6e\.xlarge": g6e\.xlarge is not offered in eu-west-1 \(per the catalog\)\.\n/
          .source +
          /Choose another instance type, or a region that offers it: us-east-1, us-west-2, ap-northeast-1\.\n$/.source,
      ),
    ],
    [
      "GGUF tag on vLLM",
      ["--model", "qwen3:235b-a22b-q8_0", "--engine", "vllm"],
      new RegExp(
        /^error: --model = "qwen3:235b-a22b-q8_0": the name asks for q8_0 weights, /.source +
          /an Ollama \(GGUF\) format that vllm does not load\.\nServe q8_0 with engine ollama, /.source,
      ),
    ],
    [
      "price cap nothing meets",
      ["--model", "Qwen3-32B", "--engine", "vllm", "--max-price", "1"],
      new RegExp(
        /^error: --max-price = "1": no instance that can serve Qwen3-32B bf16 on vllm /.source +
          /\(context 32768 x 1\) costs \$1\/h or less\.\n/.source +
          /The cheapest that fits is g7e\.2xlarge at \$3\.363\/h on-demand: raise the limit to at least 3\.363/.source,
      ),
    ],
    [
      "non-numeric context",
      ["--model", "qwen3:8b", "--engine", "vllm", "--context", "lots"],
      /^error: --context = "lots": not a whole number\./,
    ],
    [
      "nothing fits",
      ["--model", "Qwen3-235B-A22B", "--engine", "vllm", "--context", "128k", "--concurrency", "32"],
      /^error: --model = .*no instance in the catalog can serve this\.\nThe largest option, p6-b200\.48xlarge/,
    ],
    [
      "missing engine",
      ["--model", "qwen3:8b"],
      new RegExp(
        /^error: --engine = "\(missing\)": missing: this setting is required\.\n/.source +
          /Name the inference engine\. Pick one of the valid choices\.\nValid choices: vllm, sglang, ollama\n$/.source,
      ),
    ],
    [
      "missing model",
      ["--engine", "vllm"],
      /^error: --model = "\(missing\)": missing: this setting is required\.\nName a Qwen3 model: /,
    ],
  ];
  for (const [name, args, stderr] of bad) {
    it(`${name}: exit 2, reason on stderr, nothing on stdout, no stack trace`, async () => {
      const r = await plan(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, stderr);
      assert.doesNotMatch(r.stderr, NO_STACK);
      assert.doesNotMatch(r.stderr, /Invalid (input|option)|received undefined|To specify a positional argument/);
    });
  }
});
