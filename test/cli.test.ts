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

/** Qwen3-8B bf16 at 64K x 8 on vLLM: the case where the cheapest machine that fits is T4 x 8 over PCIe. */
const EIGHT_B_64K_X8 = ["--model", "Qwen3-8B", "--engine", "vllm", "--context", "64k", "--concurrency", "8"];

describe("plan CLI: --objective and --min-tokens-per-second", () => {
  it("by default Qwen3-8B bf16 at 64K x 8 picks p4d.24xlarge ($9.137/M tok), not g4dn.metal (18.2 tok/s, under the 20 floor)", async () => {
    const r = await plan(...EIGHT_B_64K_X8);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[1], "Chosen    p4d.24xlarge: 8 x A100-40GB (40.0 GiB each, CC 8.0), 96 vCPU, 1,152 GiB RAM");
    assert.ok(!r.stdout.includes("Chosen    g4dn.metal"), r.stdout);
    // The T4 machine is cheaper per hour ($7.824 against $21.958) but too slow per sequence: it is listed as rejected.
    assert.match(
      r.stdout,
      /^ {2}g4dn\.metal +\$7\.824\/h +about 18\.2 tokens\/s per sequence at 65536 x 8, under the 20 tokens\/s floor$/m,
    );
  });

  it("--objective cost keeps the cheapest-that-fits rule: Qwen3-8B bf16 at 64K x 8 picks g4dn.metal at $7.824/h", async () => {
    const r = await plan(...EIGHT_B_64K_X8, "--objective", "cost");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[1], "Chosen    g4dn.metal: 8 x T4 (14.8 GiB each, CC 7.5), 96 vCPU, 384 GiB RAM");
    assert.equal(lines[2], "Cost      $7.824/h, $5,712/month at 730 h (on-demand, us-east-1, prices as of 2026-01-21)");
    assert.match(r.stdout, /ranked by price per hour \(--objective cost\)/);
  });

  it("text output: a Speed line (tok/s per sequence and in all, TTFT, $/M tok) and alternatives with tok/s, $/M tok and interconnect", async () => {
    const r = await plan(...EIGHT_B_64K_X8);
    assert.equal(r.code, 0, r.stderr);
    const speed = r.stdout.split("\n").find((l) => l.startsWith("Speed     "));
    // 667.5 = 83.4 x 8 sequences (rounded per figure); $21.958/h / (667.5 x 3600 tok/h) x 1e6 = $9.137 per million.
    assert.equal(
      speed,
      "Speed     about 83.4 tokens/s per sequence, 667.5 in all at 65,536 x 8; TTFT 0.07 s for a 1,000-token prompt; " +
        "$9.137/M tok (estimates, memory-bound; ranked by $ per million output tokens among machines at 20+ tokens/s per sequence)",
    );
    // Rows as words, so column widths (set by the widest row) do not matter.
    const rows = r.stdout
      .slice(r.stdout.indexOf("Alternatives:"))
      .split("\n")
      .map((l) => l.trim().replace(/ +/g, " "));
    // 2 x RTX PRO 6000 at TP 2 over PCIe: above the floor, but dearer per token than the A100s over NVSwitch.
    assert.ok(
      rows.includes(
        "g7e.12xlarge $8.286/h 2 x RTX-PRO-6000 24.4 tok/s/seq 194.9 tok/s TTFT 0.10 s $11.807/M tok PCIe Gen5 " +
          "needs 50.8 GiB of 95.6 GiB per GPU",
      ),
      rows.join("\n"),
    );
    assert.ok(
      rows.includes(
        "p5en.48xlarge $63.296/h 8 x H200 189.6 tok/s/seq 1,517.2 tok/s TTFT 0.06 s $11.589/M tok " +
          "NVSwitch (NVLink 4, 900 GB/s per GPU) needs 14.1 GiB of 140.4 GiB per GPU",
      ),
      rows.join("\n"),
    );
  });

  it("--json: performance has tok/s per sequence and in all, TTFT, $/M tok, interconnect, objective, floor; so does each alternative", async () => {
    const r = await plan(...EIGHT_B_64K_X8, "--json");
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as {
      instance: { type: string };
      performance: Record<string, unknown>;
      alternatives: { type: string; performance?: Record<string, unknown> }[];
    };
    assert.equal(p.instance.type, "p4d.24xlarge");
    assert.equal(p.performance.tokensPerSecondPerSequence, 83.4);
    assert.equal(p.performance.aggregateTokensPerSecond, 667.5);
    assert.equal(p.performance.ttftSeconds, 0.07);
    assert.equal(p.performance.usdPerMillionOutputTokens, 9.137);
    assert.equal(p.performance.interconnect, "NVSwitch (NVLink 3, 600 GB/s per GPU)");
    assert.equal(p.performance.objective, "cost-per-token");
    assert.equal(p.performance.minTokensPerSecond, 20);
    assert.equal(p.alternatives.length, 5);
    for (const a of p.alternatives) {
      const perf = a.performance;
      assert.ok(perf !== undefined, `${a.type} has no performance`);
      for (const k of [
        "tokensPerSecondPerSequence",
        "aggregateTokensPerSecond",
        "ttftSeconds",
        "usdPerMillionOutputTokens",
      ])
        assert.equal(typeof perf[k], "number", `${a.type}.performance.${k}`);
      assert.equal(typeof perf.interconnect, "string", `${a.type}.performance.interconnect`);
    }
    assert.deepEqual(p.alternatives.find((a) => a.type === "g7e.12xlarge")?.performance, {
      tokensPerSecondPerSequence: 24.4,
      aggregateTokensPerSecond: 194.9,
      ttftSeconds: 0.1,
      usdPerMillionOutputTokens: 11.807,
      interconnect: "PCIe Gen5",
      bound: "memory",
    });
  });

  it("--objective speed --max-price 10 picks the fastest at or under $10/h: g7e.12xlarge at $8.286/h, 24.4 tok/s per sequence", async () => {
    const r = await plan(...EIGHT_B_64K_X8, "--objective", "speed", "--max-price", "10", "--json");
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as {
      instance: { type: string; pricePerHour: number };
      performance: { tokensPerSecondPerSequence: number; objective: string };
    };
    assert.equal(p.instance.type, "g7e.12xlarge");
    assert.equal(p.instance.pricePerHour, 8.28608);
    assert.ok(p.instance.pricePerHour <= 10, `${p.instance.pricePerHour}`);
    assert.equal(p.performance.tokensPerSecondPerSequence, 24.4);
    assert.equal(p.performance.objective, "speed");
  });

  const bad: [string, string[], RegExp][] = [
    [
      "unknown objective",
      [...EIGHT_B_64K_X8, "--objective", "fast"],
      /^error: --objective = "fast": not one of the valid choices\.\n[^\n]*\nValid choices: cost-per-token, cost, speed\n$/,
    ],
    [
      "speed floor nothing reaches",
      [...EIGHT_B_64K_X8, "--min-tokens-per-second", "500"],
      new RegExp(
        /^error: --min-tokens-per-second = "500": no machine that can serve Qwen3-8B bf16 on vllm reaches 500 tokens\/s /
          .source +
          /per sequence at context 65536 x 8 \(estimated\)\.\n/.source +
          /The fastest that fits is p6-b200\.48xlarge at about 251\.5 tokens\/s: lower --min-tokens-per-second to 251\.5 /
            .source,
      ),
    ],
    [
      "speed floor of zero",
      [...EIGHT_B_64K_X8, "--min-tokens-per-second", "0"],
      /^error: --min-tokens-per-second = "0": must be above 0\.\nGive the per-sequence tokens\/s /,
    ],
    [
      "non-numeric speed floor",
      [...EIGHT_B_64K_X8, "--min-tokens-per-second", "fast"],
      /^error: --min-tokens-per-second = "fast": not a number\.\n/,
    ],
  ];
  for (const [name, args, stderr] of bad) {
    it(`${name}: exit 2, the flag and value on stderr, no config key names, nothing on stdout, no stack trace`, async () => {
      const r = await plan(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, stderr);
      assert.doesNotMatch(r.stderr, /minTokensPerSecond|maxPricePerHour/);
      assert.doesNotMatch(r.stderr, NO_STACK);
    });
  }
});

describe("plan CLI: --max-monthly-cost", () => {
  it("a plan over the limit: exit 2, the refusal names --max-monthly-cost (not maxMonthlyCost) and both figures, nothing on stdout", async () => {
    const r = await plan("--model", "Qwen3-8B", "--engine", "vllm", "--max-monthly-cost", "1000");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      'error: --max-monthly-cost = "1000": the plan costs about $1358.53 a month (g6e.xlarge at $1.861/h x 730 h), ' +
        "over the $1000.00 limit.\nRaise --max-monthly-cost to at least $1358.53, or bring the cost down: a smaller " +
        "model, or a lighter quantization.\n",
    );
    assert.doesNotMatch(r.stderr, /maxMonthlyCost/);
    assert.doesNotMatch(r.stderr, NO_STACK);
  });

  it("a plan under the limit is printed as without it, the limit echoed in --json's request", async () => {
    const r = await plan("--model", "Qwen3-8B", "--engine", "vllm", "--max-monthly-cost", "1400", "--json");
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as { request: { maxMonthlyCost: number }; instance: { type: string }; cost: object };
    assert.equal(p.request.maxMonthlyCost, 1400);
    assert.equal(p.instance.type, "g6e.xlarge");
    assert.deepEqual(p.cost, { perHour: 1.861, perMonth: 1358.53 });
  });

  it("a non-numeric limit is refused naming the flag", async () => {
    const r = await plan("--model", "Qwen3-8B", "--engine", "vllm", "--max-monthly-cost", "lots");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --max-monthly-cost = "lots": not a number\.\n/);
  });
});
