#!/usr/bin/env python3
"""Update the qwen3-serve status file: one JSON document a waiting client can read.

Usage: status.py STATUS_FILE OP [ARGS...]
  init                       start a bootstrap run
  phase-start NAME           a phase began
  phase-end NAME STATE [DETAIL]   it ended: done, skipped, failed or rebooting
  progress PERCENT DETAIL    progress within the current phase
  set KEY VALUE              record a fact (KEY may be dotted: versions.engineImage)
  fail PHASE REASON          the run failed, and why
  ready                      the endpoint answered a real completion

Writes atomically (temp file + rename) so readers never see half a document.
The clock can be pinned with QS_NOW (epoch seconds) for tests.
"""

import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time


def now() -> float:
    return float(os.environ.get("QS_NOW") or time.time())


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {"version": 1, "run": 0, "phases": {}, "order": []}


def save(path: str, doc: dict) -> None:
    doc["updatedAt"] = iso(now())
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".status.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(path: str):
    """Hold the status file's lock: the bootstrap and the idle watchdog both rewrite it."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def boot_time() -> float:
    try:
        with open("/proc/uptime", encoding="ascii") as f:
            return now() - float(f.read().split()[0])
    except OSError:
        return now()


def main(argv: list) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, op, args = argv[1], argv[2], argv[3:]
    with locked(path):
        return update(path, op, args)


def update(path: str, op: str, args: list) -> int:
    doc = load(path)
    t = now()
    if op == "init":
        resumed = doc.get("state") == "rebooting"
        doc["run"] = int(doc.get("run", 0)) + 1
        doc.update(state="running", phase=None, error=None, progress=None, bootAt=iso(boot_time()))
        doc.setdefault("firstBootAt", doc["bootAt"])
        if not resumed:
            # A run after a reboot for the driver continues the same cold start; any other run starts afresh.
            doc["phases"], doc["order"], doc["startedAt"] = {}, [], iso(t)
    elif op == "phase-start":
        name = args[0]
        doc["phase"], doc["progress"] = name, None
        doc["phases"][name] = {"state": "running", "startedAt": iso(t), "startedEpoch": t}
        if name not in doc["order"]:
            doc["order"].append(name)
    elif op == "phase-end":
        name, state = args[0], args[1]
        p = doc["phases"].setdefault(name, {"startedEpoch": t, "startedAt": iso(t)})
        p.update(state=state, finishedAt=iso(t), seconds=round(t - p["startedEpoch"], 3))
        if len(args) > 2 and args[2]:
            p["detail"] = args[2]
        if state == "rebooting":
            doc["state"] = "rebooting"
    elif op == "progress":
        doc["progress"] = {
            "phase": doc.get("phase"),
            "percent": float(args[0]),
            "detail": args[1] if len(args) > 1 else "",
        }
    elif op == "set":
        key, value = args[0], args[1]
        node = doc
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    elif op == "fail":
        doc.update(state="failed", error={"phase": args[0], "reason": args[1], "at": iso(t)})
    elif op == "ready":
        doc.update(state="ready", phase=None, progress=None, readyAt=iso(t))
        # The first run that reaches ready is the cold start; later runs are re-checks.
        doc.setdefault(
            "coldStart",
            {
                "bootAt": doc.get("firstBootAt"),
                "startedAt": doc.get("startedAt"),
                "readyAt": iso(t),
                "phases": {k: doc["phases"][k] for k in doc["order"]},
            },
        )
    else:
        print(f"status.py: unknown operation {op}", file=sys.stderr)
        return 2
    save(path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
