#!/usr/bin/env python3
"""qwen3-serve idle watchdog: stop what nobody sends inference requests to.

idle.py check    gather, decide, act, record; qwen3-serve-idle.timer runs it every minute
idle.py loop     check every IDLE_CHECK_SECONDS (the Docker target's sidecar)
idle.py decide   the pure rule: JSON {now, sample, state, settings} on stdin, decision on stdout
                 (a JSON list of those: a list of decisions)

Fleet replica (FLEET_ASG_NAME set): never stops anything (the Auto Scaling group scales in, the
reaper enforces TTL); publishes the engine's queue to CloudWatch and holds scale-in protection
while serving.
"""

# Busy: an authenticated inference request in the proxy's access log, a request in flight at the
# proxy, requests running or waiting in the engine's /metrics (vLLM, SGLang), generated tokens
# advancing, or, with IDLE_COUNT_SSH=1, a login session. Download and load are not idle until
# IDLE_LOADING_MAX_SECONDS. TTL_HOURS stops regardless of traffic. QS_NOW pins the clock for tests.
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from functools import lru_cache

# No __pycache__ beside the installed scripts (or in this repository when tests run them).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import status  # noqa: E402  (the status file's lock, load and save)

# Inference calls only: health checks, model lists and the status page are not use.
INFERENCE = re.compile(r"^/(v1/(chat/completions|completions|responses|embeddings)|api/(chat|generate|embed))\b")
# Gauges of requests running and waiting, which a fleet replica also publishes as its queue: vLLM
# vllm/v1/metrics/loggers.py (Gauge "vllm:num_requests_running", "vllm:num_requests_waiting"), SGLang
# python/sglang/srt/metrics/collector.py (Gauge "sglang:num_running_reqs", "sglang:num_queue_reqs"),
# read 2026-11-30 in the upstream sources (the names are the same in every version seen there; not
# checked at the exact pinned tags vLLM v0.31.0 and SGLang v0.5.21).
METRICS = {
    "vllm": ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:generation_tokens_total"),
    "sglang": ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:generation_tokens_total"),
}
LOADING = ("running", "rebooting", "starting")


def iso(t):
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def span(seconds):
    m = int(max(seconds, 0) // 60)
    return f"{m} min" if m < 120 else f"{m // 60} h {m % 60} min"


def decide(now, sample, state, settings):
    # The rule. Pure: no clock, no files; the caller keeps `state` between checks.
    st = dict(state) if state.get("bootId") == sample["bootId"] else {"bootId": sample["bootId"]}
    warnings = []
    phase = sample["phase"]
    # A wedged bootstrap must not read "loading" forever: past the readiness timeout that `pulumi
    # up` waits, the idle rule applies.
    loading = phase in LOADING
    if loading:
        since = sample.get("loadingSince")
        since = st.setdefault("loadingSince", now) if since is None else since
        cap = settings.get("loadingMaxSeconds")
        if cap and now - since > cap:
            loading = False
            warnings.append(
                f"bootstrap loading for {span(now - since)}, past its limit of {span(cap)}; the idle rule applies"
            )
    else:
        st.pop("loadingSince", None)

    def result(action, reason, stop_at=None):
        return {
            "action": action,
            "reason": reason,
            "warnings": warnings,
            "lastActivityAt": iso(st.get("lastActivityAt")),
            "stopAt": iso(stop_at),
            "state": st,
        }

    # An engine we stopped stays stopped until someone starts it; then its clocks start afresh.
    if st.get("stoppedAt") is not None:
        if not sample.get("engineActive"):
            return result("none", f"stopped at {iso(st['stoppedAt'])}; start the engine to serve again")
        for k in ("stoppedAt", "upSince", "tokens"):
            st.pop(k, None)
        st["lastActivityAt"] = now

    # The first check of a boot (or of a newly started sidecar) counts as activity: the watchdog
    # must never stop an endpoint the moment it starts watching it.
    seen = [sample.get("lastRequestAt"), st.get("lastActivityAt", now)]
    engine = sample.get("engine")
    if engine is not None and phase in ("ready", "unknown"):
        if engine.get("ok"):
            st.pop("metricsDownSince", None)
            if engine["running"] + engine["waiting"] > 0:
                seen.append(now)
            if st.get("tokens") is not None and engine["tokens"] > st["tokens"]:
                seen.append(now)
            st["tokens"] = engine["tokens"]
        else:
            # A dead metrics endpoint must neither keep the box up forever nor pass in silence.
            since = st.setdefault("metricsDownSince", now)
            warnings.append(f"engine metrics unreachable for {span(now - since)}; deciding on the proxy log alone")
    if (sample.get("inFlight") or 0) > 0:
        seen.append(now)
    elif sample.get("inFlight", 0) is None and not loading:
        warnings.append("proxy's count of requests in flight unreadable; a stream longer than the window may be cut")
    if settings.get("countSsh") and sample.get("sessions", 0) > 0:
        seen.append(now)
    if loading:
        seen.append(now)
    known = [t for t in seen if t is not None]
    if known:
        st["lastActivityAt"] = max(known)

    deadlines = []
    ttl = settings.get("ttlHours")
    if ttl:
        # A machine powers off, so its TTL counts from boot; a stopped engine restarts on a running box.
        up = sample["bootAt"] if settings.get("action") == "poweroff" else st.setdefault("upSince", now)
        deadlines.append((up + ttl * 3600, f"up {span(now - up)}, past its TTL of {ttl:g} h", f"TTL of {ttl:g} h"))
    window = settings.get("idleMinutes")
    if window and not loading:
        base = max(
            st.get("lastActivityAt") or 0, sample.get("readyAt") or 0, sample["bootAt"] + settings["graceMinutes"] * 60
        )
        idle = span(now - base)
        deadlines.append(
            (base + window * 60, f"no inference request for {idle} (idle window {window:g} min)", f"idle for {idle}")
        )
    if not deadlines:
        return result(
            "none", "bootstrap still loading: never idle" if loading else "idle stop is off and no TTL is set"
        )
    at, why, short = min(deadlines)
    if now >= at:
        # A powered-off machine starts a new boot; anything else remembers the stop until restarted.
        if settings.get("action") != "poweroff":
            st["stoppedAt"] = now
        return result("stop", why, at)
    if now >= at - settings.get("warnMinutes", 5) * 60:
        return result("warn", f"{short}; stopping in {span(at - now)} unless a request arrives", at)
    if loading:
        return result("none", "bootstrap still loading: never idle", at)
    return result("none", f"{short}; stop due at {iso(at)}", at)


# ---- gathering: the only part that touches the machine ------------------------------------------
# Every reader below returns something usable whatever the file or service holds: a check that
# crashes before it acts leaves the machine running, and its TTL never fires.

UNREADABLE = (OSError, ValueError, RecursionError, http.client.HTTPException)


def env(name, default=""):
    return os.environ.get(name, default)


MACHINE_ENV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "machine.env")


@lru_cache(maxsize=1)
def machine_env():
    # machine.env beside this script (KEY='value' lines, quoted for bash); empty when absent.
    facts = {}
    try:
        with open(MACHINE_ENV, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
                    facts[key] = "".join(shlex.split(value))
    except (OSError, ValueError):
        pass
    return facts


def fact(name):
    # A machine fact (a path, the grace period) as components/machine/render.ts defines it: from the
    # environment, else machine.env. Without one the check stops, naming it: a wrong guess would act
    # on the wrong files.
    v = os.environ.get(name, machine_env().get(name))
    if not v:
        raise SystemExit(f"idle.py: {name} is neither in the environment nor in {MACHINE_ENV}")
    return v


def rooted(name):
    # A machine path under QS_ROOT (the tests' sandbox; empty on a machine).
    return env("QS_ROOT") + fact(name)


def num(name, warnings):
    v = env(name)
    try:
        return float(v) if v else None
    except ValueError:
        warnings.append(f"{name}={v!r} is not a number; ignored")
        return None


def read_json(path):
    # A JSON object from a file: (doc, None); (None, None) when absent; (None, why) when unreadable.
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None, None
    except UNREADABLE as e:
        return None, f"{path} unreadable ({e.__class__.__name__}: {e})"[:300]
    return (doc, None) if isinstance(doc, dict) else (None, f"{path} holds a JSON {type(doc).__name__}, not an object")


def number(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def clean_state(raw):
    # The fields of a state file that have the right shape, and the names of those that had not.
    st, bad = {}, []
    for k, v in raw.items():
        if k == "bootId" and isinstance(v, str):
            st[k] = v
        elif (
            k in ("lastActivityAt", "stoppedAt", "upSince", "tokens", "metricsDownSince", "loadingSince", "checkedAt")
            and number(v) is not None
        ):
            st[k] = v
        elif k == "protected" and isinstance(v, bool):
            st[k] = v
        elif (
            k == "log"
            and isinstance(v, dict)
            and all(isinstance(v.get(x), int) and not isinstance(v.get(x), bool) and v[x] >= 0 for x in ("ino", "at"))
        ):
            st[k] = {"ino": v["ino"], "at": v["at"]}
        elif (
            k == "settings"
            and isinstance(v, dict)
            and all(number(v.get(x)) is not None or v.get(x) is None for x in ("idleMinutes", "ttlHours"))
        ):
            st[k] = {
                "idleMinutes": v.get("idleMinutes"),
                "ttlHours": v.get("ttlHours"),
                "countSsh": v.get("countSsh") is True,
            }
        else:
            bad.append(k)
    return st, bad


def state_paths(root):
    # The fallback lives on /run, a tmpfs on the machines: a full root disk leaves it writable.
    return [
        os.path.join(rooted("QS_STATE_DIR"), "idle-state.json"),
        os.path.join(root, "run/qwen3-serve-idle-state.json"),
    ]


def load_state(root, memory):
    # The newest readable state: the state file, its fallback, or (in loop mode) this process's memory.
    found, warnings = [], []
    for path in state_paths(root):
        raw, why = read_json(path)
        if why:
            warnings.append(f"idle state {why}; starting its record afresh")
        if raw is not None:
            st, bad = clean_state(raw)
            if bad:
                warnings.append(f"idle state {path}: ignored malformed {', '.join(sorted(bad))}")
            found.append(st)
    if memory is not None:
        found.append(memory)
    best = max(found, key=lambda s: s.get("checkedAt", 0), default={})
    return dict(best), warnings


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)


def save_state(root, st):
    # Record the state in its file, else in the fallback; warnings say what could not be written.
    primary, fallback = state_paths(root)
    try:
        write_json(primary, st)
    except OSError as e:
        try:
            write_json(fallback, st)
            return [f"cannot record idle state in {primary} ({e}); kept in {fallback}"]
        except OSError as e2:
            return [f"cannot record idle state in {primary} ({e}) nor in {fallback} ({e2})"]
    try:
        os.remove(fallback)
    except OSError:
        pass
    return []


def scan_log(path, pos):
    # Latest authenticated inference request in the access log since `pos`; the log's new position.
    latest = None
    try:
        st = os.stat(path)
        if pos is None or pos.get("ino") != st.st_ino or pos.get("at", 0) > st.st_size:
            # New or rotated log: read it from the start.
            pos = {"ino": st.st_ino, "at": 0}
        with open(path, "rb") as f:
            f.seek(pos["at"])
            data = f.read()
    except OSError:
        return None, pos
    # A half-written last line waits for the next check.
    end = data.rfind(b"\n") + 1
    for line in data[:end].decode("utf-8", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) < 4 or parts[1] in ("401", "403") or not INFERENCE.match(parts[3]):
            continue
        try:
            t = datetime.fromisoformat(parts[0]).timestamp()
        except ValueError:
            continue
        latest = t if latest is None or t > latest else latest
    return latest, {"ino": pos["ino"], "at": pos["at"] + end}


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (loopback or the container network)
        return r.status, r.read().decode("utf-8", "replace")


def engine_metrics(kind, base):
    names = METRICS.get(kind)
    if names is None:
        return None
    try:
        _, text = http_get(f"{base}/metrics")
    except UNREADABLE:
        return {"ok": False}
    sums = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        if name in sums:
            try:
                sums[name] += float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                pass
    return {"ok": True, "running": sums[names[0]], "waiting": sums[names[1]], "tokens": sums[names[2]]}


class UnixHTTP(http.client.HTTPConnection):
    # HTTP on a unix socket: the Docker Engine API, and the proxy's in-flight count on a machine.

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def unix_get(sock_path, url, method="GET", timeout=60):
    c = UnixHTTP(sock_path, timeout)
    try:
        c.request(method, url)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def docker(method, path):
    return unix_get(env("DOCKER_SOCKET", "/var/run/docker.sock"), path, method)


def in_flight():
    # Requests the proxy is serving now, less this probe (stub_status "Writing"); None when unreadable.
    # IDLE_ACTIVITY: the Docker target's http://proxy:port; a machine's nginx answers on a unix socket.
    target = env("IDLE_ACTIVITY") or "unix:" + rooted("QS_ACTIVITY_SOCKET")
    path = fact("QS_ACTIVITY_URL_PATH")
    try:
        if target.startswith("unix:"):
            code, text = unix_get(target[len("unix:") :], path, timeout=5)
        else:
            code, text = http_get(target + path)
    except UNREADABLE:
        return None
    m = re.search(r"\bWriting: (\d+)", text)
    return max(int(m.group(1)) - 1, 0) if code == 200 and m else None


def engine_active(action):
    try:
        if action == "stop-engine":
            return (
                subprocess.run(
                    ["systemctl", "is-active", "--quiet", "qwen3-serve-engine.service"], check=False
                ).returncode
                == 0
            )
        if action == "docker":
            code, body = docker("GET", f"/containers/{env('IDLE_CONTAINERS').split(',')[0]}/json")
            return code == 200 and bool(json.loads(body).get("State", {}).get("Running"))
    except (*UNREADABLE, AttributeError):
        # Unknown counts as running: a stop that was already done is harmless.
        pass
    return True


def imds_token():
    base = env("IMDS_URL", "http://169.254.169.254")
    put = urllib.request.Request(
        base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    with urllib.request.urlopen(put, timeout=2) as r:  # noqa: S310
        return base, r.read().decode()


def imds_get(base_token, path):
    # One IMDSv2 read; "" when IMDS has no such key (404).
    base, token = base_token
    req = urllib.request.Request(base + "/latest/meta-data/" + path, headers={"X-aws-ec2-metadata-token": token})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:  # noqa: S310
            return r.read().decode().strip()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return ""
        raise


def imds_tags():
    # Window, TTL and SSH rule from the instance's tags, through IMDSv2 (a token first).
    token = imds_token()

    def tag(key):
        return imds_get(token, f"tags/instance/qwen3-serve:{key}")

    def positive(v):
        try:
            return float(v) if v and v != "off" and float(v) > 0 else None
        except ValueError:
            return None

    return {
        "idleMinutes": positive(tag("idle-minutes")),
        "ttlHours": positive(tag("ttl-hours")),
        "countSsh": tag("idle-counts-ssh") == "true",
    }


def load_settings(state):
    # The settings, and warnings; from instance tags when IDLE_SETTINGS=imds-tags, else the env file.
    warnings = []
    s = {
        "idleMinutes": num("IDLE_MINUTES", warnings),
        "ttlHours": num("TTL_HOURS", warnings),
        "countSsh": env("IDLE_COUNT_SSH") == "1",
    }
    if env("IDLE_SETTINGS") == "imds-tags":
        try:
            s = imds_tags()
        except UNREADABLE as e:
            # Keep acting on what the tags said last, rather than stopping or never stopping.
            s = state.get("settings") or s
            warnings.append(f"instance tags unreadable ({e}); keeping the last known settings")
    s.update(
        graceMinutes=float(fact("IDLE_GRACE_MINUTES")),
        warnMinutes=min(5, (s["idleMinutes"] or 10) // 2),
        action=env("IDLE_ACTION", "poweroff"),
        loadingMaxSeconds=num("IDLE_LOADING_MAX_SECONDS", warnings),
    )
    return s, warnings


def when(v):
    # Epoch seconds of an ISO 8601 time from the status file; None when absent or malformed.
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() if isinstance(v, str) else None
    except ValueError:
        return None


def bootstrap_phase():
    # Phase, readyAt, loading since, and warnings, from the bootstrap's status file.
    path = rooted("QS_STATUS_FILE")
    doc, why = read_json(path)
    if doc is None:
        return "unknown", None, None, [f"bootstrap status {why or path + ' missing'}; the idle rule applies"]
    state = doc.get("state")
    phase = state if state in ("ready", "failed", "running", "rebooting") else "unknown"
    warnings = [] if phase != "unknown" else [f"bootstrap status {path} has state {state!r}; the idle rule applies"]
    return phase, when(doc.get("readyAt")), when(doc.get("startedAt")), warnings


def boot(now):
    try:
        boot_id = env("QS_BOOT_ID") or open("/proc/sys/kernel/random/boot_id", encoding="ascii").read().strip()
        boot_at = float(env("QS_BOOT_AT") or 0) or now - float(open("/proc/uptime", encoding="ascii").read().split()[0])
    except (OSError, ValueError, IndexError):
        return "unknown", None
    return boot_id, boot_at


def sample_machine(now, state, settings):
    # What the machine shows now, the access log's new position, and warnings about what it could not read.
    base = f"http://{env('ENGINE_HOST', '127.0.0.1')}:{env('ENGINE_PORT')}"
    warnings, ready_at, started_at = [], None, None
    # Docker has no bootstrap status file: the engine's health says whether it still loads.
    if env("IDLE_PHASE") == "health":
        try:
            phase = "ready" if http_get(base + env("ENGINE_HEALTH_PATH", "/health"))[0] == 200 else "starting"
        except UNREADABLE:
            phase = "starting"
    else:
        phase, ready_at, started_at, warnings = bootstrap_phase()
    last, pos = scan_log(env("IDLE_ACCESS_LOG") or rooted("QS_ACCESS_LOG"), state.get("log"))
    boot_id, boot_at = boot(now)
    sessions = 0
    if settings["countSsh"]:
        try:
            who = subprocess.run(["who"], capture_output=True, text=True, check=False).stdout
            sessions = len([line for line in who.splitlines() if line.strip()])
        except OSError as e:
            warnings.append(f"who failed ({e}); login sessions not counted")
    return (
        {
            "bootId": boot_id,
            "bootAt": now if boot_at is None else boot_at,
            "phase": phase,
            "readyAt": ready_at,
            "loadingSince": started_at,
            "lastRequestAt": last,
            "engine": engine_metrics(env("ENGINE"), base) if phase in ("ready", "unknown") else None,
            "inFlight": in_flight(),
            "sessions": sessions,
            "engineActive": engine_active(settings["action"]),
        },
        pos,
        warnings,
    )


# ---- fleet replica: the queue metric and scale-in protection, signed calls to AWS ---------------


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sigv4(method, url, headers, body, region, service, creds, amz_date):
    # The request's headers with AWS Signature Version 4 added: canonical request, string to sign,
    # derived key, HMAC (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html,
    # read 2026-11-30). Header values are trimmed, query parameters sorted, every header sent signed.
    u = urllib.parse.urlsplit(url)
    h = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    h.update({"host": u.netloc, "x-amz-date": amz_date})
    if creds.get("Token"):
        h["x-amz-security-token"] = creds["Token"]
    names = sorted(h)

    def q(v):
        return urllib.parse.quote(v, safe="-_.~")

    query = "&".join(f"{q(k)}={q(v)}" for k, v in sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    headers_text = "".join(f"{k}:{h[k]}\n" for k in names)
    canonical = "\n".join([method, u.path or "/", query, headers_text, ";".join(names), sha256_hex(body)])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    key = ("AWS4" + creds["SecretAccessKey"]).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(canonical.encode())])
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds['AccessKeyId']}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return h


def aws_identity():
    # The instance role's temporary credentials and the instance id, from IMDSv2. Never logged.
    token = imds_token()
    role = imds_get(token, "iam/security-credentials/").split("\n")[0]
    creds = json.loads(imds_get(token, f"iam/security-credentials/{role}") or "{}") if role else {}
    if not creds.get("AccessKeyId") or not creds.get("SecretAccessKey"):
        raise ValueError("no instance role credentials in the instance metadata")
    return creds, imds_get(token, "instance-id")


def aws_query(service, params, creds):
    # One AWS Query API call (form-encoded POST); FLEET_AWS_ENDPOINT points both services at a test fake.
    region = env("FLEET_REGION")
    url = (env("FLEET_AWS_ENDPOINT") or f"https://{service}.{region}.amazonaws.com") + "/"
    body = urllib.parse.urlencode(params).encode()
    # The real clock, never QS_NOW: AWS refuses a signature more than 5 minutes off.
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ctype = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = urllib.request.Request(
        url, data=body, method="POST", headers=sigv4("POST", url, ctype, body, region, service, creds, amz_date)
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 (AWS's endpoint, or a test's loopback fake)
            r.read()
    except urllib.error.HTTPError as e:
        # The error code only: AWS's message may name the role or the account.
        code = re.search(r"<Code>([^<]{1,80})</Code>", e.read().decode("utf-8", "replace"))
        raise ValueError(f"{params['Action']}: HTTP {e.code} {code.group(1) if code else ''}".strip()) from None


def fleet_step(now, sample, protected):
    # Publish the queue; set scale-in protection when serving changed (or is unknown, after a boot).
    # Returns the protection now in force (None: unknown) and warnings.
    asg, warnings = env("FLEET_ASG_NAME"), []
    engine = sample.get("engine") or {}
    queue = engine["running"] + engine["waiting"] if engine.get("ok") else None
    last = sample.get("lastRequestAt")
    serving = bool((sample.get("inFlight") or 0) > 0 or (queue or 0) > 0 or (last is not None and now - last < 120))
    calls = []
    if env("FLEET_PUBLISH_QUEUE") == "1" and queue is not None:
        metric = {"MetricName": env("FLEET_QUEUE_METRIC"), "Value": f"{queue:g}", "Unit": "Count"}
        metric.update({"Dimensions.member.1.Name": "AutoScalingGroupName", "Dimensions.member.1.Value": asg})
        params = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": env("FLEET_METRIC_NAMESPACE")}
        calls.append(("monitoring", dict(params, **{f"MetricData.member.1.{k}": v for k, v in metric.items()})))
    if protected != serving:
        params = {"Action": "SetInstanceProtection", "Version": "2011-01-01", "AutoScalingGroupName": asg}
        calls.append(("autoscaling", dict(params, ProtectedFromScaleIn=str(serving).lower())))
    if not calls:
        return protected, warnings
    try:
        creds, instance = aws_identity()
    except (*UNREADABLE, KeyError) as e:
        return protected, [
            f"fleet: instance metadata unreadable ({e.__class__.__name__}); no metric, protection unchanged"
        ]
    for service, params in calls:
        if service == "autoscaling":
            params["InstanceIds.member.1"] = instance
        try:
            aws_query(service, params, creds)
        except UNREADABLE as e:
            warnings.append(f"fleet: {params['Action']} failed ({e}); retried next check")
            continue
        if service == "autoscaling":
            protected = serving
            say(f"fleet: scale-in protection {'on: serving' if serving else 'off: idle'}")
    return protected, warnings


def act(action):
    if action == "poweroff":
        # EC2 turns an OS shutdown into stop or terminate, per the instance's shutdown behaviour.
        subprocess.run(["systemctl", "poweroff"], check=True)
    elif action == "stop-engine":
        subprocess.run(["systemctl", "stop", "qwen3-serve-engine.service"], check=True)
    elif action == "docker":
        for name in env("IDLE_CONTAINERS").split(","):
            code, body = docker("POST", f"/containers/{name}/stop?t=30")
            if code not in (204, 304):
                raise RuntimeError(f"docker stop {name}: HTTP {code} {body.strip()}")


def say(line):
    try:
        print(f"qwen3-serve[idle]: {line}", flush=True)
    except OSError:
        # A lost journal line must not stop the check.
        pass


def record_status(now, d, settings, warnings):
    # The decision in the status file, for the status page; warnings when it cannot be written.
    path = rooted("QS_STATUS_FILE")
    rec = {k: d[k] for k in ("action", "reason", "lastActivityAt", "stopAt")}
    rec.update(
        warnings=warnings, checkedAt=iso(now), idleMinutes=settings["idleMinutes"], ttlHours=settings["ttlHours"]
    )
    try:
        with status.locked(path):
            doc, why = read_json(path)
            if why:
                return [f"not recording the decision in {path}: {why}"]
            doc = doc if doc is not None else status.load(path)
            doc["idle"] = rec
            status.save(path, doc)
    except OSError as e:
        return [f"cannot record the decision in {path} ({e})"]
    return []


def check(memory=None):
    # One check: gather, decide, act, and only then record. Returns the exit code and the state.
    now = float(env("QS_NOW") or time.time())
    root = env("QS_ROOT")
    state, warnings = load_state(root, memory)
    settings, more = load_settings(state)
    sample, pos, problems = sample_machine(now, state, settings)
    d = decide(now, sample, state, settings)
    warnings += more + problems + d["warnings"]
    fleet = bool(env("FLEET_ASG_NAME"))
    if fleet:
        # A replica never stops itself: the group would only replace it. Say what the rule wanted.
        if d["action"] == "stop":
            say(f"fleet replica: not stopping ({settings['action']}): {d['reason']}; the group scales in")
        d = dict(d, action="none", reason=f"fleet replica: the group scales in ({d['reason']})", stopAt=None)
        d["state"].pop("stoppedAt", None)
        protected, late = fleet_step(now, sample, d["state"].get("protected"))
        warnings += late
    for w in warnings:
        say(f"WARNING: {w}")
    code = 0
    if d["action"] == "warn":
        say(f"WARNING: {d['reason']}")
    elif d["action"] == "stop":
        say(f"stopping ({settings['action']}): {d['reason']}")
        try:
            act(settings["action"])
        except (*UNREADABLE, subprocess.CalledProcessError, RuntimeError) as e:
            say(f"ERROR: {settings['action']} failed: {e}")
            code = 1
    new_state = dict(
        d["state"], log=pos, checkedAt=now, settings={k: settings[k] for k in ("idleMinutes", "ttlHours", "countSsh")}
    )
    if pos is None:
        new_state.pop("log")
    if fleet and protected is not None:
        new_state["protected"] = protected
    late = save_state(root, new_state) + record_status(now, d, settings, warnings)
    for w in late:
        say(f"WARNING: {w}")
    return code, new_state


def main(argv):
    op = argv[1] if len(argv) > 1 else ""
    if op == "decide":
        # A JSON list of requests gets a list of decisions: one process for a whole table of cases.
        req = json.load(sys.stdin)
        out = [
            decide(r["now"], r["sample"], r.get("state", {}), r["settings"])
            for r in (req if isinstance(req, list) else [req])
        ]
        json.dump(out if isinstance(req, list) else out[0], sys.stdout)
        return 0
    if op == "check":
        return check()[0]
    if op == "loop":
        memory = None
        while True:
            try:
                memory = check(memory)[1]
            except Exception as e:  # noqa: BLE001 (one failed check must not end the watchdog)
                say(f"check failed: {e}")
            time.sleep(float(env("IDLE_CHECK_SECONDS", "60")))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
