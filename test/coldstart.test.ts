/**
 * The cold-start estimate: pinned phase figures for the issue's two goal cases and a plain-Ubuntu
 * machine, and every figure it uses carrying an https source and its date.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COLD_START_FIGURES, COLD_START_FIGURES_AS_OF } from "../components/catalog/bandwidths";
import { type ColdStartEstimate, estimateColdStart } from "../components/coldstart/estimate";
import { buildPlan, type PlanCatalog } from "../components/sizing/plan";
import { parsePlanRequest } from "../components/sizing/request";

const secondsByPhase = (c: ColdStartEstimate): [string, number][] => c.phases.map((p) => [p.name, p.seconds]);

const planOn = (model: string, engine: string, type: string, catalog: PlanCatalog = {}) =>
  buildPlan(parsePlanRequest({ model, engine, instanceTypes: [type] }), catalog);

describe("cold-start estimate", () => {
  it("qwen3:8b on Ollama on g6.xlarge (Deep Learning AMI): 60 + 0 + 35 + 74.3 + 19.9 + 0 + 0.4 = 189.6 s, 123.6 s with the S3 mirror", () => {
    const c = planOn("qwen3:8b", "ollama", "g6.xlarge").coldStart;
    assert.deepEqual(secondsByPhase(c), [
      ["boot", 60],
      ["driver", 0],
      ["image", 35],
      ["weights", 74.3],
      ["load", 19.9],
      ["compile", 0],
      ["first token", 0.4],
    ]);
    assert.equal(c.totalSeconds, 189.6);
    assert.equal(c.mirrorWeightsSeconds, 8.3);
    assert.equal(c.mirrorTotalSeconds, 123.6);
    assert.equal(c.kind, "estimate");
  });

  it("Qwen3-30B-A3B-FP8 on vLLM on g6e.xlarge (Deep Learning AMI): 820.8 s, 371.9 s with the S3 mirror", () => {
    const c = planOn("Qwen3-30B-A3B-FP8", "vllm", "g6e.xlarge").coldStart;
    assert.deepEqual(secondsByPhase(c), [
      ["boot", 60],
      ["driver", 0],
      ["image", 126.4],
      ["weights", 498.8],
      ["load", 75.5],
      ["compile", 60],
      ["first token", 0.1],
    ]);
    assert.equal(c.totalSeconds, 820.8);
    assert.equal(c.mirrorWeightsSeconds, 49.9);
    assert.equal(c.mirrorTotalSeconds, 371.9);
  });

  it("plain Ubuntu adds the 480 s driver phase (driver, Docker, toolkit, reboot) and nothing else", () => {
    const c = planOn("qwen3:8b", "ollama", "g6.xlarge", { site: { kind: "aws", ami: "ubuntu-24.04" } }).coldStart;
    assert.deepEqual(c.phases[1], {
      name: "driver",
      seconds: 480,
      basis:
        "ubuntu-24.04: driver, Docker, container toolkit and one reboot (assumed " +
        "https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html)",
    });
    assert.equal(c.totalSeconds, 669.6);
  });

  it("SGLang's compile phase is its CUDA graph capture, 12.1 s", () => {
    const c = estimateColdStart(
      {
        engine: "sglang",
        serve: { weights: { source: "hf", expectedBytes: 16e9 } },
        performance: { ttftSeconds: 0.2 },
      },
      { kind: "aws", ami: "dlami-ubuntu-24.04" },
    );
    assert.deepEqual(secondsByPhase(c), [
      ["boot", 60],
      ["driver", 0],
      ["image", 110],
      ["weights", 256],
      ["load", 46.5],
      ["compile", 12.1],
      ["first token", 0.2],
    ]);
  });

  it("a machine that already runs has no boot or driver phase", () => {
    const c = estimateColdStart(
      { engine: "vllm", serve: { weights: { source: "hf", expectedBytes: 1e9 } }, performance: { ttftSeconds: 0 } },
      { kind: "machine" },
    );
    assert.deepEqual(c.phases.slice(0, 2), [
      { name: "boot", seconds: 0, basis: "your machine is already running" },
      { name: "driver", seconds: 0, basis: "your machine has its driver" },
    ]);
  });

  it("every figure names https sources and the date they were read, and says whether it is assumed", () => {
    const names = Object.keys(COLD_START_FIGURES);
    assert.equal(names.length, 17);
    for (const [name, f] of Object.entries(COLD_START_FIGURES)) {
      const urls = typeof f.source.url === "string" ? [f.source.url] : f.source.url;
      assert.ok(urls.length > 0, name);
      for (const u of urls) assert.match(u, /^https:\/\/[a-z0-9.-]+\.[a-z]+\//, `${name}: ${u}`);
      assert.equal(f.source.asOf, "2026-11-30", name);
      assert.equal(typeof f.assumed, "boolean", name);
      assert.ok((f.source.note ?? "").length > 20, `${name} says what the source gives`);
    }
    assert.equal(COLD_START_FIGURES_AS_OF, "2026-11-30");
    assert.deepEqual(
      names.filter((n) => COLD_START_FIGURES[n as keyof typeof COLD_START_FIGURES].assumed),
      ["ec2Boot", "driverInstall", "imagePullRate", "sglangEngineStart", "ollamaEngineStart"],
    );
  });

  it("each phase's basis cites the source URL of the figure it uses", () => {
    const c = planOn("Qwen3-30B-A3B-FP8", "vllm", "g6e.xlarge").coldStart;
    const basis = Object.fromEntries(c.phases.map((p) => [p.name, p.basis]));
    assert.match(
      basis.weights ?? "",
      /31\.2 GB from Hugging Face at 63 MB\/s \(per https:\/\/github\.com\/oobabooga\/textgen\/issues\/2841\)/,
    );
    assert.match(
      basis.compile ?? "",
      /torch\.compile 43 s cold, 5 s with the cache \(per https:\/\/github\.com\/vllm-project\/vllm\/issues\/44881\)/,
    );
    assert.match(
      basis.image ?? "",
      /12\.6 GB image \(per https:\/\/github\.com\/vllm-project\/vllm\/issues\/27154\) at 100 MB\/s \(assumed /,
    );
  });
});

describe("the warm restart of a stopped machine", () => {
  // Boot 60 + load (engine start + reading the weights already on the same volume) + compile from the cache + first token.
  it("qwen3:8b on Ollama on g6.xlarge restarts in 80.3 s: 60 boot + 19.9 load + 0 compile + 0.4 first token", () => {
    const p = buildPlan(parsePlanRequest({ model: "qwen3:8b", engine: "ollama", instanceTypes: ["g6.xlarge"] }));
    assert.equal(p.coldStart.warmRestartSeconds, 80.3);
  });

  it("Qwen3-30B-A3B-FP8 on vLLM on g6e.xlarge restarts in 157.6 s: torch.compile from the cache (5 s) but CUDA graphs again (17 s)", () => {
    const p = buildPlan(
      parsePlanRequest({ model: "Qwen3-30B-A3B-FP8", engine: "vllm", instanceTypes: ["g6e.xlarge"] }),
    );
    assert.equal(p.coldStart.warmRestartSeconds, 157.6);
  });
});

describe("the cold-start estimate of a stack that reads the S3 weights mirror (aws.weightsCache: s3)", () => {
  const MIRROR = { site: { kind: "aws", ami: "dlami-ubuntu-24.04", weightsCache: "s3" } } as const;

  it(
    "qwen3:8b on Ollama on g6.xlarge: weights 5.2 GB / 625 MB/s = 8.3 s, so 60 + 0 + 35 + 8.3 + 19.9 + 0 + 0.4 = " +
      "123.6 s; the seeding machine 74.3 s and 189.6 s",
    () => {
      const c = planOn("qwen3:8b", "ollama", "g6.xlarge", MIRROR).coldStart;
      assert.deepEqual(secondsByPhase(c), [
        ["boot", 60],
        ["driver", 0],
        ["image", 35],
        ["weights", 8.3],
        ["load", 19.9],
        ["compile", 0],
        ["first token", 0.4],
      ]);
      assert.equal(c.totalSeconds, 123.6);
      assert.equal(c.mirrorTotalSeconds, 123.6);
      assert.deepEqual(c.seeding, { weightsSeconds: 74.3, totalSeconds: 189.6 });
      assert.equal(c.warmRestartSeconds, 80.3);
      assert.equal(
        c.phases[3]?.basis,
        "5.2 GB from the in-region S3 mirror at 625 MB/s (per " +
          "https://docs.aws.amazon.com/en_en/AWSEC2/latest/UserGuide/ec2-instance-network-bandwidth.html); Ollama's blobs copied to disk",
      );
    },
  );

  it(
    "Qwen3-30B-A3B-FP8 on vLLM on g6e.xlarge: weights 31.17 GB / 625 MB/s = 49.9 s, so 60 + 0 + 126.4 + 49.9 + " +
      "75.5 + 60 + 0.1 = 371.9 s; the seeding machine 498.8 s and 820.8 s",
    () => {
      const c = planOn("Qwen3-30B-A3B-FP8", "vllm", "g6e.xlarge", MIRROR).coldStart;
      assert.deepEqual(secondsByPhase(c), [
        ["boot", 60],
        ["driver", 0],
        ["image", 126.4],
        ["weights", 49.9],
        ["load", 75.5],
        ["compile", 60],
        ["first token", 0.1],
      ]);
      assert.equal(c.totalSeconds, 371.9);
      assert.deepEqual(c.seeding, { weightsSeconds: 498.8, totalSeconds: 820.8 });
      assert.match(c.phases[3]?.basis ?? "", /; streamed into the engine as it loads, so counting the gp3 read/);
    },
  );

  it("weightsCache off (or absent) keeps the source's weights phase and carries no seeding figures", () => {
    for (const site of [
      { kind: "aws", ami: "dlami-ubuntu-24.04", weightsCache: "off" },
      { kind: "aws", ami: "dlami-ubuntu-24.04" },
    ] as const) {
      const c = planOn("qwen3:8b", "ollama", "g6.xlarge", { site }).coldStart;
      assert.equal(c.totalSeconds, 189.6);
      assert.equal(c.seeding, undefined);
      assert.equal("seeding" in c, false);
    }
  });
});

describe("the cold-start estimate of a fleet replica on the S3 mirror (shared compile cache)", () => {
  const FLEET = { site: { kind: "aws", ami: "dlami-ubuntu-24.04", weightsCache: "s3", fleet: true } } as const;

  it(
    "Qwen3-30B-A3B-FP8 on vLLM on g6e.xlarge: compile 5 s from the fleet's cache + 17 s graphs = 22 s, so " +
      "60 + 0 + 126.4 + 49.9 + 75.5 + 22 + 0.1 = 333.9 s; the first replica seeds and compiles cold, 820.8 s",
    () => {
      const c = planOn("Qwen3-30B-A3B-FP8", "vllm", "g6e.xlarge", FLEET).coldStart;
      assert.deepEqual(secondsByPhase(c), [
        ["boot", 60],
        ["driver", 0],
        ["image", 126.4],
        ["weights", 49.9],
        ["load", 75.5],
        ["compile", 22],
        ["first token", 0.1],
      ]);
      assert.equal(c.totalSeconds, 333.9);
      assert.equal(c.mirrorTotalSeconds, 333.9);
      assert.deepEqual(c.seeding, { weightsSeconds: 498.8, totalSeconds: 820.8 });
      assert.equal(c.warmRestartSeconds, 157.6);
      assert.match(
        c.phases[5]?.basis ?? "",
        /^torch\.compile 5 s from the fleet's compile cache in the S3 mirror \(per /,
      );
      assert.match(c.phases[5]?.basis ?? "", /; the first replica compiles cold, 43 s, and shares it$/);
    },
  );

  it("SGLang keeps its 12.1 s graph capture and Ollama 0 s; a fleet without the mirror compiles cold (60 s)", () => {
    const sglang = estimateColdStart(
      {
        engine: "sglang",
        serve: { weights: { source: "hf", expectedBytes: 16e9 } },
        performance: { ttftSeconds: 0.2 },
      },
      FLEET.site,
    );
    assert.equal(sglang.phases[5]?.seconds, 12.1);
    assert.equal(planOn("qwen3:8b", "ollama", "g6.xlarge", FLEET).coldStart.phases[5]?.seconds, 0);
    const offMirror = { site: { kind: "aws", ami: "dlami-ubuntu-24.04", fleet: true } } as const;
    assert.equal(planOn("Qwen3-30B-A3B-FP8", "vllm", "g6e.xlarge", offMirror).coldStart.phases[5]?.seconds, 60);
  });
});
