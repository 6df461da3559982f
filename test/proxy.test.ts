/**
 * The authenticating proxy (components/machine/proxy.conf, proxy-auth.conf), installed by the real
 * bootstrap in the sandbox and served by the distribution's real nginx, with the fake engine behind
 * it. The key holds "." and "+", which a regular expression would read as wildcards, so the test
 * shows the match is exact: letter case, each character, nothing more and nothing less. The engine
 * never sees the key. The watchdog's in-flight count answers on its own unix socket, never on the
 * public port.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { METRIC_NAMESPACE, QUEUE_METRIC, READY_URL_PATH } from "../components/fleet/settings";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";
import { check, idleRecord, isoOf, MIN } from "./helpers/watchdog";

/** A key with every character class secrets.sh allows, "." and "+" among them. */
const KEY = "Proxy.Key+Slash/Eq=Tilde~Dash-Under_0123456789";

/** GET on a unix socket, as the watchdog asks nginx for its in-flight count. */
function unixGet(socketPath: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the proxy on a sandboxed machine", () => {
  let sb: Sandbox;
  let base = "";
  const engineRequests = (): { url: string; auth: string }[] =>
    readFileSync(path.join(sb.state, "engine-requests.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { url: string; auth: string });

  before(async () => {
    sb = await Sandbox.create({ request: { model: "qwen3:0.6b", engine: "ollama" }, secrets: "remote" });
    const secrets = sb.p("etc/qwen3-serve/secrets.env");
    mkdirSync(path.dirname(secrets), { recursive: true });
    writeFileSync(secrets, `API_KEY=${KEY}\n`);
    chmodSync(secrets, 0o600);
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    base = `http://127.0.0.1:${sb.proxyPort}`;
  });
  after(() => sb?.destroy());

  const models = async (authorization: string): Promise<number> =>
    (await request(`${base}/v1/models`, { headers: { Authorization: authorization } })).status;

  it("accepts the exact key, with the scheme in any letter case (RFC 9110: the scheme is case-insensitive)", async () => {
    assert.deepEqual(
      [await models(`Bearer ${KEY}`), await models(`bearer ${KEY}`), await models(`BEARER ${KEY}`)],
      [200, 200, 200],
    );
  });

  it("refuses a key that differs only in letter case", async () => {
    assert.deepEqual(
      [
        await models(`Bearer ${KEY.toLowerCase()}`),
        await models(`Bearer ${KEY.toUpperCase()}`),
        await models(`Bearer p${KEY.slice(1)}`),
      ],
      [401, 401, 401],
    );
  });

  it("refuses keys a regex wildcard would match: another character for '.', a repeated 'y' for 'y+'", async () => {
    assert.deepEqual(
      [await models(`Bearer ${KEY.replace(".", "X")}`), await models(`Bearer ${KEY.replace("Key+", "Keyy")}`)],
      [401, 401],
    );
  });

  it("refuses the key with anything added before or after it, or with a second space", async () => {
    // (No trailing-space case: fetch strips a header value's surrounding whitespace before sending.)
    const tries = [`Bearer ${KEY}x`, `Bearer x${KEY}`, `Bearer  ${KEY}`, `XBearer ${KEY}`, KEY];
    const got = await Promise.all(tries.map(models));
    assert.deepEqual(
      got,
      tries.map(() => 401),
    );
  });

  it("never forwards the Authorization header to the engine", async () => {
    const before = engineRequests().length;
    assert.equal(await models(`Bearer ${KEY}`), 200);
    const forwarded = engineRequests().slice(before);
    assert.deepEqual(forwarded, [{ method: "GET", url: "/v1/models", auth: "absent" }]);
  });

  it(
    "a client without the key that trickles a request body stops counting as in flight within " +
      "seconds of its 401 (lingering_time 2 s), not after nginx's default 30 s",
    async () => {
      const sock = sb.p("run/qwen3-serve-activity.sock");
      const writing = async (): Promise<number> =>
        Number(/Writing: (\d+)/.exec((await unixGet(sock, "/qwen3-serve/activity")).body)?.[1]);
      const client = net.connect(sb.proxyPort, "127.0.0.1");
      let answer = "";
      const answered = new Promise<number>((resolve) =>
        client.on("data", (c: Buffer) => {
          answer += c.toString();
          resolve(Date.now());
        }),
      );
      client.on("error", () => undefined);
      await new Promise<void>((resolve) => client.once("connect", () => resolve()));
      client.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"model"',
      );
      // One byte every 400 ms: never silent for lingering_timeout (1 s), so only lingering_time ends it.
      const trickle = setInterval(() => client.writable && client.write(" "), 400);
      try {
        const at = await answered;
        assert.match(answer, /^HTTP\/1\.1 401 /, "answered 401 at once, before the body");
        assert.equal(
          await writing(),
          2,
          "the discarded body keeps the request in flight at first (the probe is the other)",
        );
        // Poll rather than sleep: the count drops about 2 s after the 401. The 15 s bound leaves a
        // loaded machine room and still fails nginx's default, which would hold it 30 s.
        let n = 2;
        while (n !== 1 && Date.now() - at < 15_000) {
          await new Promise((r) => setTimeout(r, 100));
          n = await writing();
        }
        assert.equal(n, 1, "only the probe itself: the slow client no longer counts");
        assert.ok(Date.now() - at >= 1000, "not before lingering_timeout: the trickle kept it open that long");
      } finally {
        clearInterval(trickle);
        client.destroy();
      }
    },
  );

  it("a single machine has no readiness path: /qwen3-serve/ready without the key gets 401 like any path", async () => {
    const r = await request(`${base}/qwen3-serve/ready`);
    assert.equal(r.status, 401);
    assert.match(r.body, /missing or wrong API key/);
  });

  it("answers the watchdog's in-flight count on its unix socket only, never on the public port", async () => {
    const sock = sb.p("run/qwen3-serve-activity.sock");
    const probe = await unixGet(sock, "/qwen3-serve/activity");
    assert.equal(probe.status, 200);
    // stub_status counts this probe itself as one request being written.
    assert.match(
      probe.body,
      /^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: 0 Writing: 1 Waiting: \d+ \n$/,
    );
    assert.equal((await unixGet(sock, "/v1/models")).status, 404, "the socket serves the count and nothing else");
    assert.equal((await request(`${base}/qwen3-serve/activity`)).status, 401);
    const withKey = await request(`${base}/qwen3-serve/activity`, { headers: { Authorization: `Bearer ${KEY}` } });
    assert.doesNotMatch(withKey.body, /Active connections/, "the public port passes the path to the engine");
    // After a crash nginx leaves the socket file behind and could not bind again: the unit removes it first.
    assert.match(
      readFileSync(sb.p("etc/systemd/system/nginx.service.d/qwen3-serve.conf"), "utf8"),
      new RegExp(`^ExecStartPre=-/bin/rm -f ${sock.replace(/[.+]/g, "\\$&")}$`, "m"),
    );
  });
});

/** A fleet replica's settings as the fleet component passes them. */
const FLEET = {
  region: "us-east-1",
  autoScalingGroupName: "qwen3-serve-team-prod-fleet",
  metricNamespace: METRIC_NAMESPACE,
  queueMetric: QUEUE_METRIC,
  readyPath: READY_URL_PATH,
} as const;

/** Everything a response tells a client that holds no key: status, headers and body. */
async function probe(url: string): Promise<{ status: number; body: string; headers: string }> {
  const res = await fetch(url);
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
  return { status: res.status, body: await res.text(), headers };
}

describe("the load balancer's readiness path on a sandboxed fleet replica (vLLM)", () => {
  let sb: Sandbox;
  let base = "";
  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:8b", engine: "vllm" },
      idle: { minutes: 10, ttlHours: null, countSsh: false, action: "poweroff" },
      fleet: { ...FLEET, publishQueueMetric: true },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    base = `http://127.0.0.1:${sb.proxyPort}`;
  });
  after(() => sb?.destroy());

  it(
    "answers 200 'ready' without a key while the engine is healthy, a bare 503 once it is down, 200 again " +
      "when it is back; neither names the model, the engine or nginx's version",
    async () => {
      const up = await probe(`${base}/qwen3-serve/ready`);
      assert.deepEqual([up.status, up.body], [200, "ready\n"]);
      assert.match(up.headers, /^content-type: text\/plain$/m);
      const stop = await sb.run(["systemctl", "stop", "qwen3-serve-engine.service"]);
      assert.equal(stop.code, 0, stop.stderr);
      const down = await probe(`${base}/qwen3-serve/ready`);
      assert.deepEqual([down.status, down.body], [503, "not ready\n"]);
      for (const r of [up, down]) {
        assert.match(r.headers, /^server: nginx$/m, "no version in the Server header");
        assert.doesNotMatch(r.body + r.headers, /qwen|vllm|nginx\/|error/i);
      }
      const start = await sb.run(["systemctl", "start", "qwen3-serve-engine.service"]);
      assert.equal(start.code, 0, start.stderr);
      let again = 0;
      for (let i = 0; i < 50 && again !== 200; i++) {
        again = (await probe(`${base}/qwen3-serve/ready`)).status;
        if (again !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(again, 200);
      // What the probe asked the engine: its health path, never with a key.
      const asked = readFileSync(path.join(sb.state, "engine-requests.log"), "utf8");
      assert.match(asked, /\{"method":"GET","url":"\/health","auth":"absent"\}/);
    },
  );

  it("every other path still needs the key: the API, the status page, near-miss paths, the internal probe", async () => {
    const paths = [
      "/v1/models",
      "/qwen3-serve/status",
      "/qwen3-serve/ready/",
      "/qwen3-serve/readyx",
      "/qwen3-serve/ready?x=1",
    ];
    const got = await Promise.all(paths.map(async (p) => (await probe(`${base}${p}`)).status));
    // "?x=1" is the same path: nginx matches locations on the path alone, and the answer stays bare.
    assert.deepEqual(got, [401, 401, 401, 401, 200]);
    const internal = await probe(`${base}/qwen3-serve/ready/engine`);
    assert.equal(internal.status, 404, "the probe's own location is internal");
    assert.doesNotMatch(internal.body + internal.headers, /nginx\//);
    const keyed = await request(`${base}/v1/models`, { headers: { Authorization: `Bearer ${SANDBOX_API_KEY}` } });
    assert.equal(keyed.status, 200);
  });

  it("health checks every 15 s leave no access-log line and never count as activity for the watchdog", async () => {
    const logFile = sb.p("var/log/qwen3-serve/access.log");
    // A closed loopback port for IMDS: the fleet calls fail at once, with a warning, and change nothing here.
    const env = { QS_BOOT_AT: String(Math.floor(Date.now() / 1000) - 7200), IMDS_URL: "http://127.0.0.1:1" };
    const t1 = Math.floor(Date.now() / 1000) + 3600;
    assert.equal(check(sb, t1, env).code, 0);
    assert.equal(idleRecord(sb).lastActivityAt, isoOf(t1), "the first check counts itself");
    for (let i = 0; i < 20; i++) assert.equal((await probe(`${base}/qwen3-serve/ready`)).status, 200);
    const later = check(sb, t1 + 30 * MIN, env);
    assert.equal(later.code, 0, later.out);
    assert.equal(idleRecord(sb).lastActivityAt, isoOf(t1), "20 health checks moved nothing");
    assert.match(later.out, /fleet replica: not stopping \(poweroff\): no inference request for 30 min/);
    // nginx may still append the previous test's keyed request after its response, so look for the path, not a count.
    assert.doesNotMatch(readFileSync(logFile, "utf8"), / \/qwen3-serve\/ready /, "no line for the health checks");
  });
});

describe("the load balancer's readiness path on a sandboxed fleet replica (Ollama)", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      fleet: { ...FLEET, publishQueueMetric: false },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(() => sb?.destroy());

  it("answers 200 while Ollama has the served model (POST /api/show), a bare 503 once the model is gone", async () => {
    const url = `http://127.0.0.1:${sb.proxyPort}/qwen3-serve/ready`;
    assert.deepEqual(Object.values(await probe(url)).slice(0, 2), [200, "ready\n"]);
    const asked = readFileSync(path.join(sb.state, "engine-requests.log"), "utf8");
    assert.match(asked, /\{"method":"POST","url":"\/api\/show","auth":"absent"\}/);
    const ollamaDir = sb.p("var/lib/qwen3-serve/ollama/models/manifests");
    rmSync(ollamaDir, { recursive: true, force: true });
    const gone = await probe(url);
    assert.deepEqual([gone.status, gone.body], [503, "not ready\n"]);
    assert.doesNotMatch(gone.body + gone.headers, /qwen|not found|nginx\//i);
  });
});
