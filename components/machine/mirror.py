#!/usr/bin/env python3
"""Machine side of the S3 weights mirror (aws.weightsCache: s3), called by mirror.sh.

Commands (the model comes from the env file: WEIGHTS_SOURCE, MODEL_REF, MODEL_REVISION, WEIGHTS_MIRROR_*):
  check [--hash-composite]   trust the prefix only if its manifest lists every object with the right size and SHA-256
  copy DEST                  copy the checked objects below DEST, hashing each
  verify-hf HUB_JSON DIR     compare a downloaded snapshot with the Hub's file list
  verify-ollama DIR          compare a pulled Ollama store with the pinned manifest digest
  seed DIR                   upload the verified files, create-only, then the manifest
  files-list REL             print the verified files as "size<TAB>sha256<TAB>REL/path" lines
  cache-fetch DEST           unpack the fleet's compile cache (WEIGHTS_MIRROR_CACHE_KEY) into the empty folder DEST
  cache-share SRC            pack SRC and upload it create-only as the fleet's compile cache
Every AWS call runs the CLI named in MIRROR_AWS (one word a line: the host's `aws`, or the pinned image).
Working files go to MIRROR_WORK. Python 3 standard library only.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile


def env(name, default=""):
    return os.environ.get(name, default)


BUCKET = env("WEIGHTS_MIRROR_BUCKET")
REGION = env("WEIGHTS_MIRROR_REGION")
PREFIX = env("WEIGHTS_MIRROR_PREFIX")
SOURCE = env("WEIGHTS_SOURCE")
REF = env("MODEL_REF")
REVISION = env("MODEL_REVISION")
WORK = env("MIRROR_WORK")
AWS = [w for w in env("MIRROR_AWS").split("\n") if w]
MANIFEST_KEY = f"{PREFIX}/.qwen3-serve/manifest.json"
CACHE_KEY = env("WEIGHTS_MIRROR_CACHE_KEY")
BLOBS = f"{PREFIX.split('/')[0]}/ollama/blobs"
OLLAMA_MANIFEST = env("MIRROR_OLLAMA_MANIFEST")
MAX_PUT = int(env("MIRROR_MAX_PUT_BYTES", str(5 * 1024**3)))
PART = 8 * 1024 * 1024
WORKERS = int(env("MIRROR_WORKERS", "4"))
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def log(msg):
    print(f"qwen3-serve[{env('QS_PHASE', 'weights')}]: mirror: {msg}", flush=True)


def aws(*args):
    """One CLI call with the mirror's region; s3api/sts take it after the operation, as in the contract."""
    words = [args[0], args[1], "--region", REGION, *args[2:]] if args[0] != "s3" else [*args, "--region", REGION]
    return subprocess.run(AWS + words, capture_output=True, text=True)


def last_line(text):
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else "no output"


def b64(hex_digest):
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def hashes(path, git=False):
    """SHA-256 and, with git, the git blob id (SHA-1 of "blob <len>\\0" + bytes), in one read."""
    sha = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % os.path.getsize(path)) if git else None
    with open(path, "rb") as f:
        while chunk := f.read(PART):
            sha.update(chunk)
            if sha1:
                sha1.update(chunk)
    return sha.hexdigest(), sha1.hexdigest() if sha1 else None


def composite(path, size, parts):
    """S3's multipart SHA-256 ("<b64 of sha256 of the parts' sha256s>-N"), for the CLI's part sizes
    (multipart_chunksize 8 MiB, doubled until at most 10,000 parts), or None when N fits none."""
    chunk = PART
    while -(-size // chunk) > parts:
        chunk *= 2
    if -(-size // chunk) != parts:
        return None
    outer = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            outer.update(hashlib.sha256(block).digest())
    return f"{base64.b64encode(outer.digest()).decode()}-{parts}"


def head(key):
    """(metadata, None) for an object, (None, reason) for a missing or unreadable one."""
    r = aws("s3api", "head-object", "--bucket", BUCKET, "--key", key, "--checksum-mode", "ENABLED")
    if r.returncode == 0:
        return json.loads(r.stdout), None
    return None, "missing" if "(404)" in r.stderr else f"head-object failed: {last_line(r.stderr)}"


def is_composite(meta):
    return meta.get("ChecksumType") == "COMPOSITE" or "-" in meta.get("ChecksumSHA256", "")


def stored_problem(meta, size, sha256):
    """Why a stored object is not the listed one (None when it is, "composite" when only its bytes can tell)."""
    if meta["ContentLength"] != size:
        return f"size {meta['ContentLength']} in S3, {size} expected"
    if "ChecksumSHA256" not in meta:
        return "stored without a SHA-256 checksum"
    if is_composite(meta):
        return "composite"
    if meta["ChecksumSHA256"] != b64(sha256):
        return f"SHA-256 {meta['ChecksumSHA256']} in S3, {b64(sha256)} expected"
    return None


def safe_path(p):
    parts = p.split("/")
    return bool(p) and not p.startswith("/") and "\\" not in p and all(x not in ("", ".", "..") for x in parts)


def manifest_problems(m):
    """Why a manifest does not describe this model revision's prefix (empty when it does)."""
    want = {"version": 1, "source": SOURCE, "ref": REF, "revision": REVISION}
    bad = [f"{k} is {m.get(k)!r}, not {v!r}" for k, v in want.items() if m.get(k) != v]
    files = m.get("files")
    if not isinstance(files, list) or not files:
        return bad + ["it lists no files"]
    for f in files:
        if not (
            isinstance(f, dict)
            and isinstance(f.get("size"), int)
            and HEX64.match(str(f.get("sha256")))
            and safe_path(str(f.get("path")))
            and isinstance(f.get("key"), str)
        ):
            bad.append(f"malformed entry {json.dumps(f)[:200]}")
        elif f["key"] != expected_key(f):
            bad.append(f"{f['path']} is at {f['key']}, not {expected_key(f)}")
    if SOURCE == "ollama" and not any(f.get("path") == OLLAMA_MANIFEST for f in files):
        bad.append(f"it does not list the Ollama manifest {OLLAMA_MANIFEST}")
    return bad


def expected_key(f):
    """Where an entry must live; for Ollama, its sha256 must also be its name (blobs) or the pinned digest."""
    if SOURCE == "hf":
        return f"{PREFIX}/{f['path']}"
    if f["path"] == OLLAMA_MANIFEST:
        return f"{PREFIX}/manifest" if f["sha256"] == REVISION else "(a manifest with the pinned digest)"
    if f["path"] == f"blobs/sha256-{f['sha256']}":
        return f"{BLOBS}/sha256-{f['sha256']}"
    return "(nowhere: not the manifest, and not a blob named by its sha256)"


def parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(fn, items))


def save(name, doc):
    with open(os.path.join(WORK, name), "w", encoding="utf-8") as f:
        json.dump(doc, f)


def load(name):
    with open(os.path.join(WORK, name), encoding="utf-8") as f:
        return json.load(f)


def download(key, dest):
    """Copy one object to dest; None when done, else why not."""
    r = aws("s3", "cp", f"s3://{BUCKET}/{key}", dest, "--only-show-errors")
    if r.returncode != 0:
        return f"download failed: {last_line(r.stderr)}"
    return None


def cmd_check(args):
    got = os.path.join(WORK, "manifest.json")
    r = aws("s3api", "get-object", "--bucket", BUCKET, "--key", MANIFEST_KEY, got)
    if r.returncode != 0:
        why = "it has no manifest (nothing seeded yet, or a seed that did not finish)"
        log(f"s3://{BUCKET}/{PREFIX}/ is not trusted: {why if 'NoSuchKey' in r.stderr else last_line(r.stderr)}")
        return 1
    try:
        with open(got, encoding="utf-8") as f:
            m = json.load(f)
        problems = manifest_problems(m) if isinstance(m, dict) else ["it is not a JSON object"]
    except ValueError as e:
        problems = [f"it is not JSON ({e})"]
    if problems:
        for p in problems:
            log(f"{MANIFEST_KEY}: {p}")
        return 1
    files = m["files"]

    def one(f):
        meta, why = head(f["key"])
        return why or stored_problem(meta, f["size"], f["sha256"])

    results = parallel(one, files)
    if "--hash-composite" in args:
        results = [hash_stored(f) if r == "composite" else r for f, r in zip(files, results, strict=True)]
    bad = [(f, r) for f, r in zip(files, results, strict=True) if r not in (None, "composite")]
    for f, r in bad:
        log(f"{f['key']}: {r}")
    save("check.json", {"files": files})
    if bad:
        log(f"s3://{BUCKET}/{PREFIX}/ is not trusted: {len(bad)} of {len(files)} objects failed the check")
        return 1
    log(f"s3://{BUCKET}/{PREFIX}/ checked: {len(files)} objects, sizes and SHA-256 as listed")
    return 0


def hash_stored(f):
    """A multipart object's S3 checksum is not its SHA-256, so only its bytes can vouch for it."""
    tmp = os.path.join(WORK, "composite.part")
    try:
        why = download(f["key"], tmp)
        if why is None and hashes(tmp)[0] != f["sha256"]:
            why = "its bytes' SHA-256 is not the listed one"
        return why
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_copy(args):
    dest = args[0]
    files = load("check.json")["files"]

    def one(f):
        target = os.path.join(dest, f["path"])
        if os.path.isfile(target) and os.path.getsize(target) == f["size"] and hashes(target)[0] == f["sha256"]:
            return None
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.mirror-partial"
        why = download(f["key"], tmp)
        if why is None and os.path.getsize(tmp) != f["size"]:
            why = f"copied {os.path.getsize(tmp)} bytes, {f['size']} expected"
        if why is None and hashes(tmp)[0] != f["sha256"]:
            why = "the copy's SHA-256 is not the listed one"
        if why is None:
            os.replace(tmp, target)
        elif os.path.exists(tmp):
            os.remove(tmp)
        return why

    bad = [(f, why) for f, why in zip(files, parallel(one, files), strict=True) if why]
    for f, why in bad:
        log(f"{f['key']}: {why}")
    if bad:
        return 1
    save("local.json", {"root": dest, "files": files})
    log(f"copied {len(files)} objects from s3://{BUCKET}/{PREFIX}/ and checked their SHA-256")
    return 0


def cmd_verify_hf(args):
    with open(args[0], encoding="utf-8") as f:
        info = json.load(f)
    root = args[1]
    siblings = {s["rfilename"]: s for s in info.get("siblings", [])}
    local = set()
    for d, _, names in os.walk(root, followlinks=True):
        local.update(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/") for n in names)
    bad = [f"{p}: not in the Hub's file list" for p in sorted(local - set(siblings))]
    bad += [f"{p}: listed by the Hub, not downloaded" for p in sorted(set(siblings) - local)]
    if info.get("sha") != REVISION:
        bad.append(f"the Hub answered for revision {info.get('sha')}, not {REVISION}")

    def one(p):
        s, full = siblings[p], os.path.join(root, p)
        lfs = s.get("lfs")
        size = lfs["size"] if lfs else s.get("size")
        sha, sha1 = hashes(full, git=not lfs)
        if os.path.getsize(full) != size:
            return None, f"{p}: {os.path.getsize(full)} bytes, the Hub says {size}"
        if lfs and sha != lfs["sha256"]:
            return None, f"{p}: SHA-256 {sha}, the Hub says {lfs['sha256']}"
        if not lfs and sha1 != s.get("blobId"):
            return None, f"{p}: git blob id {sha1}, the Hub says {s.get('blobId')}"
        return {"key": f"{PREFIX}/{p}", "path": p, "size": size, "sha256": sha}, None

    checked = parallel(one, sorted(local & set(siblings)))
    bad += [why for _, why in checked if why]
    for why in bad:
        log(f"download differs from the Hub: {why}")
    if bad:
        log("not seeding the mirror with files the Hub does not vouch for")
        return 1
    save("local.json", {"root": root, "files": [f for f, _ in checked]})
    log(f"{len(checked)} files match the Hub's sizes and hashes for {REF}@{REVISION}")
    return 0


def cmd_verify_ollama(args):
    root = args[0]
    mpath = os.path.join(root, OLLAMA_MANIFEST)
    with open(mpath, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != REVISION:
        log(f"{OLLAMA_MANIFEST} has sha256 {digest}, not the pinned {REVISION}: not seeding")
        return 1
    m = json.loads(raw)
    files = [{"key": f"{PREFIX}/manifest", "path": OLLAMA_MANIFEST, "size": len(raw), "sha256": digest}]
    bad = []
    for layer in [m.get("config"), *m.get("layers", [])]:
        if not layer:
            continue
        hexd = layer["digest"].split(":", 1)[1]
        rel = f"blobs/sha256-{hexd}"
        full = os.path.join(root, rel)
        if not os.path.isfile(full) or os.path.getsize(full) != layer["size"]:
            bad.append(f"{rel}: missing or not {layer['size']} bytes")
        elif hashes(full)[0] != hexd:
            bad.append(f"{rel}: its sha256 is not its name")
        else:
            files.append({"key": f"{BLOBS}/sha256-{hexd}", "path": rel, "size": layer["size"], "sha256": hexd})
    for why in bad:
        log(f"not seeding: {why}")
    if bad:
        return 1
    save("local.json", {"root": root, "files": files})
    return 0


def upload(key, path, size, sha256):
    """(ok, error text). One PUT carries the SHA-256 for S3 to check; a file over the single-PUT limit
    goes multipart, which has no create-only form, so an object already there reads as PreconditionFailed."""
    if size <= MAX_PUT:
        r = aws(
            "s3api",
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--body",
            path,
            "--checksum-algorithm",
            "SHA256",
            "--checksum-sha256",
            b64(sha256),
            "--if-none-match",
            "*",
        )
        return r.returncode == 0, r.stderr
    # The bucket policy takes multipart writes (no If-None-Match) only for Ollama layers, which readers hash.
    if not key.startswith(BLOBS + "/"):
        return False, f"{size} bytes is over the {MAX_PUT}-byte single PUT, and only Ollama layers may go multipart"
    if head(key)[0] is not None:
        return False, "PreconditionFailed"
    r = aws("s3", "cp", path, f"s3://{BUCKET}/{key}", "--checksum-algorithm", "SHA256", "--only-show-errors")
    return r.returncode == 0, r.stderr


def differs(meta, path, size, sha256):
    """Why a stored object is not this local file (None when it is)."""
    why = stored_problem(meta, size, sha256)
    if why == "composite":
        parts = meta["ChecksumSHA256"].rsplit("-", 1)[-1]
        ok = parts.isdigit() and composite(path, size, int(parts)) == meta["ChecksumSHA256"]
        why = None if ok else "its multipart checksum is not this file's"
    return why


def put(key, path, size, sha256):
    """Create-only upload; an object already there is kept when equal, else deleted and put again once."""
    for attempt in (1, 2):
        ok, err = upload(key, path, size, sha256)
        if ok:
            return None
        if "PreconditionFailed" not in err:
            return f"upload failed: {last_line(err)}"
        meta, why = head(key)
        if meta is None:
            return f"create-only upload refused, then head-object: {why}"
        why = differs(meta, path, size, sha256)
        if why is None:
            return None
        if attempt == 2:
            return f"still differs after replacing it: {why}"
        log(f"{key}: the stored object differs ({why}); replacing it")
        d = aws("s3api", "delete-object", "--bucket", BUCKET, "--key", key)
        if d.returncode != 0:
            return f"could not delete the stale object: {last_line(d.stderr)}"
    return None


def cmd_seed(_args):
    local = load("local.json")
    files = sorted(local["files"], key=lambda f: f["path"])

    def one(f):
        return put(f["key"], os.path.join(local["root"], f["path"]), f["size"], f["sha256"])

    bad = [(f, why) for f, why in zip(files, parallel(one, files), strict=True) if why]
    for f, why in bad:
        log(f"{f['key']}: {why}")
    if bad:
        log(f"seeding s3://{BUCKET}/{PREFIX}/ failed for {len(bad)} of {len(files)} files; no manifest written")
        return 1
    doc = {"version": 1, "source": SOURCE, "ref": REF, "revision": REVISION, "files": files}
    body = os.path.join(WORK, "manifest.out.json")
    with open(body, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    why = put(MANIFEST_KEY, body, os.path.getsize(body), hashes(body)[0])
    if why:
        log(f"{MANIFEST_KEY}: {why}")
        return 1
    log(f"seeded s3://{BUCKET}/{PREFIX}/ with {len(files)} files and its manifest")
    return 0


def cmd_files_list(args):
    for f in load("local.json")["files"]:
        print(f"{f['size']}\t{f['sha256']}\t{args[0]}/{f['path']}")
    return 0


def unsafe_member(m):
    """Why a cache tarball member may not be unpacked: what is not a file, folder or link, or what could land
    outside the folder (an absolute path or `..`, in its name or in a link's target)."""
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        return "not a file, folder or link"
    names = [m.name] + ([m.linkname] if m.issym() or m.islnk() else [])
    if any(n.startswith("/") or ".." in n.split("/") for n in names):
        return "an absolute path or .. in its name or link target"
    if m.mode & 0o6000:
        return "setuid or setgid"
    return None


def tar_problem(path):
    """Why a cache tarball is refused as a whole (None when every member may be unpacked)."""
    try:
        with tarfile.open(path, "r:gz") as t:
            for m in t:
                why = unsafe_member(m)
                if why:
                    return f"member {m.name[:200]!r}: {why}"
    except (tarfile.TarError, OSError, EOFError) as e:
        return f"not a readable tar.gz ({e})"
    return None


def unpack(tarball, dest):
    """Unpack into a fresh folder beside dest, then put it in dest's place: nothing half-unpacked is ever used."""
    staging = f"{dest}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    cmd = ["tar", "-xzf", tarball, "-C", staging, "--no-same-owner", "--no-same-permissions"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 0 and os.path.isdir(dest) and os.listdir(dest):
        r = subprocess.CompletedProcess(cmd, 1, "", f"{dest} is no longer empty")
    if r.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        return f"tar failed: {last_line(r.stderr)}"
    if os.path.isdir(dest):
        os.rmdir(dest)
    os.replace(staging, dest)
    return None


def cmd_cache_fetch(args):
    tarball = os.path.join(WORK, "compile-cache.tar.gz")
    try:
        r = aws("s3api", "get-object", "--bucket", BUCKET, "--key", CACHE_KEY, "--checksum-mode", "ENABLED", tarball)
        if r.returncode != 0:
            why = "none shared yet" if "NoSuchKey" in r.stderr else last_line(r.stderr)
            log(f"no compile cache unpacked from {CACHE_KEY} ({why}); the engine compiles")
            return 1
        meta = json.loads(r.stdout)
        why = stored_problem(meta, os.path.getsize(tarball), hashes(tarball)[0])
        why = "a multipart object, not a replica's upload" if why == "composite" else why
        why = why or tar_problem(tarball) or unpack(tarball, args[0])
        if why:
            log(f"{CACHE_KEY}: {why}: not unpacked; the engine compiles")
            return 1
        log(f"unpacked the fleet's compile cache {CACHE_KEY} ({meta['ContentLength']} bytes, SHA-256 checked)")
        return 0
    finally:
        if os.path.exists(tarball):
            os.remove(tarball)


def cmd_cache_share(args):
    """A failed upload returns 1 (the next boot tries again); a lost race or a tarball too big for one PUT is done."""
    tarball = os.path.join(WORK, "compile-cache.tar.gz")
    cmd = ["tar", "-czf", tarball, "--owner=0", "--group=0", "--numeric-owner", "-C", args[0], "."]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            log(f"could not pack the compile cache: {last_line(r.stderr)}")
            return 1
        size = os.path.getsize(tarball)
        if size > MAX_PUT:
            log(f"the compile cache is {size} bytes, over the {MAX_PUT}-byte single PUT: not shared")
            return 0
        ok, err = upload(CACHE_KEY, tarball, size, hashes(tarball)[0])
        if ok:
            log(f"shared the compile cache as {CACHE_KEY} ({size} bytes)")
        elif "PreconditionFailed" in err:
            log(f"another replica shared {CACHE_KEY} first")
        else:
            log(f"could not share the compile cache: {last_line(err)}")
        return 0 if ok or "PreconditionFailed" in err else 1
    finally:
        if os.path.exists(tarball):
            os.remove(tarball)


COMMANDS = {
    "check": cmd_check,
    "copy": cmd_copy,
    "verify-hf": cmd_verify_hf,
    "verify-ollama": cmd_verify_ollama,
    "seed": cmd_seed,
    "files-list": cmd_files_list,
    "cache-fetch": cmd_cache_fetch,
    "cache-share": cmd_cache_share,
}

if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
