#!/usr/bin/env python3
"""qwen3-serve idle watchdog: stop what nobody sends inference requests to.

  idle.py check    gather, decide, act, record; qwen3-serve-idle.timer runs it every minute
  idle.py loop     check every IDLE_CHECK_SECONDS (the Docker target's sidecar)
  idle.py decide   the pure rule: JSON {now, sample, state, settings} on stdin, decision on stdout

Busy: an authenticated inference request in the proxy's access log, requests running or waiting
in the engine's /metrics (vLLM, SGLang), generated tokens advancing, or, with IDLE_COUNT_SSH=1, a
login session. Download and load never count as idle. TTL_HOURS stops regardless of traffic.
QS_NOW (epoch seconds) pins the clock for tests.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime

# No __pycache__ beside the installed scripts (or in this repository when tests run them).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import status  # noqa: E402  (the status file's lock, load and save)

# Inference calls only: health checks, model lists and the status page are not use.
INFERENCE = re.compile(r"^/(v1/(chat/completions|completions|responses|embeddings)|api/(chat|generate|embed))\b")
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
    """The rule. Pure: no clock, no files; the caller keeps `state` between checks."""
    st = dict(state) if state.get("bootId") == sample["bootId"] else {"bootId": sample["bootId"]}
    warnings = []
    phase = sample["phase"]

    def result(action, reason, stop_at=None):
        return {"action": action, "reason": reason, "warnings": warnings, "lastActivityAt": iso(st.get("lastActivityAt")),
                "stopAt": iso(stop_at), "state": st}

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
    if engine is not None and phase == "ready":
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
    if settings.get("countSsh") and sample.get("sessions", 0) > 0:
        seen.append(now)
    if phase in LOADING:
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
    if window and phase not in LOADING:
        base = max(st.get("lastActivityAt") or 0, sample.get("readyAt") or 0, sample["bootAt"] + settings.get("graceMinutes", 10) * 60)
        idle = span(now - base)
        deadlines.append((base + window * 60, f"no inference request for {idle} (idle window {window:g} min)", f"idle for {idle}"))
    if not deadlines:
        return result("none", "bootstrap still loading: never idle" if phase in LOADING else "idle stop is off and no TTL is set")
    at, why, short = min(deadlines)
    if now >= at:
        # A powered-off machine starts a new boot; anything else remembers the stop until restarted.
        if settings.get("action") != "poweroff":
            st["stoppedAt"] = now
        return result("stop", why, at)
    if now >= at - settings.get("warnMinutes", 5) * 60:
        return result("warn", f"{short}; stopping in {span(at - now)} unless a request arrives", at)
    if phase in LOADING:
        return result("none", "bootstrap still loading: never idle", at)
    return result("none", f"{short}; stop due at {iso(at)}", at)


# ---- gathering: the only part that touches the machine ------------------------------------------

def env(name, default=""):
    return os.environ.get(name, default)


def num(name):
    v = env(name)
    return float(v) if v else None


def scan_log(path, pos):
    """Latest authenticated inference request in the access log since `pos`; the log's new position."""
    latest = None
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    if pos is None or pos.get("ino") != st.st_ino or pos.get("at", 0) > st.st_size:
        pos = {"ino": st.st_ino, "at": 0}  # new or rotated log: read it from the start
    with open(path, "rb") as f:
        f.seek(pos["at"])
        data = f.read()
    end = data.rfind(b"\n") + 1  # a half-written last line waits for the next check
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
    except (OSError, ValueError):
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


class DockerSocket(http.client.HTTPConnection):
    """The Docker Engine API on its unix socket, so the sidecar needs no docker CLI."""

    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def docker(method, path):
    c = DockerSocket(env("DOCKER_SOCKET", "/var/run/docker.sock"))
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def engine_active(action):
    if action == "stop-engine":
        return subprocess.run(["systemctl", "is-active", "--quiet", "qwen3-serve-engine.service"], check=False).returncode == 0
    if action == "docker":
        code, body = docker("GET", f"/containers/{env('IDLE_CONTAINERS').split(',')[0]}/json")
        return code == 200 and bool(json.loads(body).get("State", {}).get("Running"))
    return True


def imds_tags():
    """Window, TTL and SSH rule from the instance's tags, through IMDSv2 (a token first)."""
    base = env("IMDS_URL", "http://169.254.169.254")
    put = urllib.request.Request(base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    with urllib.request.urlopen(put, timeout=2) as r:  # noqa: S310
        token = r.read().decode()

    def tag(key):
        req = urllib.request.Request(f"{base}/latest/meta-data/tags/instance/qwen3-serve:{key}", headers={"X-aws-ec2-metadata-token": token})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:  # noqa: S310
                return r.read().decode().strip()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return ""
            raise

    def number(v):
        try:
            return float(v) if v and v != "off" and float(v) > 0 else None
        except ValueError:
            return None

    return {"idleMinutes": number(tag("idle-minutes")), "ttlHours": number(tag("ttl-hours")), "countSsh": tag("idle-counts-ssh") == "true"}


def load_settings(state):
    """The settings, and warnings; from instance tags when IDLE_SETTINGS=imds-tags, else the env file."""
    s = {"idleMinutes": num("IDLE_MINUTES"), "ttlHours": num("TTL_HOURS"), "countSsh": env("IDLE_COUNT_SSH") == "1"}
    warnings = []
    if env("IDLE_SETTINGS") == "imds-tags":
        try:
            s = imds_tags()
        except (OSError, ValueError) as e:
            # Keep acting on what the tags said last, rather than stopping or never stopping.
            s = state.get("settings") or s
            warnings.append(f"instance tags unreadable ({e}); keeping the last known settings")
    grace = num("IDLE_GRACE_MINUTES")
    s.update(graceMinutes=10 if grace is None else grace, warnMinutes=min(5, (s["idleMinutes"] or 10) // 2), action=env("IDLE_ACTION", "poweroff"))
    return s, warnings


def sample_machine(now, state, settings):
    root = env("QS_ROOT")
    doc = {}
    base = f"http://{env('ENGINE_HOST', '127.0.0.1')}:{env('ENGINE_PORT')}"
    # Docker has no bootstrap status file: the engine's health says whether it still loads.
    if env("IDLE_PHASE") == "health":
        try:
            phase = "ready" if http_get(base + env("ENGINE_HEALTH_PATH", "/health"))[0] == 200 else "starting"
        except (OSError, ValueError):
            phase = "starting"
    else:
        doc = status.load(os.path.join(root, "var/lib/qwen3-serve/status.json"))
        phase = {"ready": "ready", "failed": "failed"}.get(doc.get("state"), "running")
    ready_at = doc.get("readyAt")
    last, pos = scan_log(env("IDLE_ACCESS_LOG") or os.path.join(root, "var/log/qwen3-serve/access.log"), state.get("log"))
    try:
        boot_id = env("QS_BOOT_ID") or open("/proc/sys/kernel/random/boot_id", encoding="ascii").read().strip()
        boot_at = num("QS_BOOT_AT") or now - float(open("/proc/uptime", encoding="ascii").read().split()[0])
    except OSError:
        boot_id, boot_at = "unknown", now
    sessions = 0
    if settings["countSsh"]:
        who = subprocess.run(["who"], capture_output=True, text=True, check=False).stdout
        sessions = len([line for line in who.splitlines() if line.strip()])
    return {
        "bootId": boot_id, "bootAt": boot_at, "phase": phase,
        "readyAt": datetime.fromisoformat(ready_at.replace("Z", "+00:00")).timestamp() if ready_at else None,
        "lastRequestAt": last, "engine": engine_metrics(env("ENGINE"), base) if phase == "ready" else None,
        "sessions": sessions, "engineActive": engine_active(settings["action"]),
    }, pos


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


def check():
    now = float(env("QS_NOW") or time.time())
    root = env("QS_ROOT")
    state_path = os.path.join(root, "var/lib/qwen3-serve/idle-state.json")
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    try:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    settings, setting_warnings = load_settings(state)
    sample, pos = sample_machine(now, state, settings)
    d = decide(now, sample, state, settings)
    for w in setting_warnings + d["warnings"]:
        print(f"qwen3-serve[idle]: WARNING: {w}", flush=True)
    if d["action"] == "warn":
        print(f"qwen3-serve[idle]: WARNING: {d['reason']}", flush=True)
    elif d["action"] == "stop":
        print(f"qwen3-serve[idle]: stopping ({settings['action']}): {d['reason']}", flush=True)
    new_state = dict(d["state"], log=pos, settings={k: settings[k] for k in ("idleMinutes", "ttlHours", "countSsh")})
    with open(state_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(new_state, f)
    os.replace(state_path + ".tmp", state_path)
    record = {k: d[k] for k in ("action", "reason", "lastActivityAt", "stopAt")}
    record["warnings"] = setting_warnings + d["warnings"]
    record.update(checkedAt=iso(now), idleMinutes=settings["idleMinutes"], ttlHours=settings["ttlHours"])
    status_path = os.path.join(root, "var/lib/qwen3-serve/status.json")
    with status.locked(status_path):
        doc = status.load(status_path)
        doc["idle"] = record
        status.save(status_path, doc)
    if d["action"] == "stop":
        act(settings["action"])
    return 0


def main(argv):
    op = argv[1] if len(argv) > 1 else ""
    if op == "decide":
        req = json.load(sys.stdin)
        json.dump(decide(req["now"], req["sample"], req.get("state", {}), req["settings"]), sys.stdout)
        return 0
    if op == "check":
        return check()
    if op == "loop":
        while True:
            try:
                check()
            except Exception as e:  # noqa: BLE001 (one failed check must not end the watchdog)
                print(f"qwen3-serve[idle]: check failed: {e}", flush=True)
            time.sleep(float(env("IDLE_CHECK_SECONDS", "60")))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
