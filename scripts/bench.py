#!/usr/bin/env python3
"""Start-up time and memory of exo-setup against a bare Tauri window (stdlib only; run by scripts/bench.sh).

Each run spawns the binary with a fresh EXO_SETUP_DATA_DIR and EXO_SETUP_BENCH=1 and times from spawn to the line
`<name>: ui-ready` on its stdout (printed after the page's first paint). 2 s later it sums PSS and RSS
(/proc/PID/smaps_rollup) over the process and all its descendants (WebKitWebProcess, WebKitNetworkProcess, ...),
then stops them. Runs alternate app/bare; one discarded warm-up of each first; medians are reported.
Needs a display and a D-Bus session (bench.sh provides Xvfb + dbus-run-session).
"""
import argparse
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...  (comm may contain spaces/parentheses: split after the last ')')
        rest = stat[stat.rfind(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def descendants(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def mem_kb(pid):
    """(pss_kb, rss_kb) of one process, or None when it is gone/unreadable."""
    pss = rss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        return None
    if pss is None or rss is None:
        return None
    return pss, rss


def kill_tree(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def one_run(binary, marker, settle, timeout):
    data = tempfile.mkdtemp(prefix="exo-bench-")
    env = dict(os.environ, EXO_SETUP_BENCH="1", EXO_SETUP_DATA_DIR=data)
    t0 = time.perf_counter()
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=errf, env=env, start_new_session=True)

    def stderr_tail():
        errf.seek(0)
        lines = errf.read().decode(errors="replace").strip().splitlines()
        return "\n    ".join(lines[:3] + (["..."] if len(lines) > 6 else []) + lines[3:][-3:])

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf, ready_ms, lines = b"", None, []
    try:
        while ready_ms is None:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                raise RuntimeError(f"{binary}: no '{marker}' on stdout within {timeout}s; stdout {lines[-5:]}; "
                                   f"stderr:\n    {stderr_tail()}")
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"{binary} exited ({proc.wait()}) before '{marker}'; stdout {lines[-5:]}; "
                                   f"stderr:\n    {stderr_tail()}")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                lines.append(text)
                if marker in text:
                    ready_ms = (time.perf_counter() - t0) * 1000
                    break
        time.sleep(settle)
        tree = descendants(proc.pid)
        pss = rss = 0
        parts = []
        for p in tree:
            m = mem_kb(p)
            if m:
                pss += m[0]
                rss += m[1]
                parts.append(f"{comm(p)} {m[0] // 1024}M")
        return ready_ms, pss, rss, parts
    finally:
        tree = descendants(proc.pid)
        kill_tree(tree, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(descendants(proc.pid) + tree, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        subprocess.run(["rm", "-rf", data])
        errf.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--bare", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--bare-marker", default="bare-window: ui-ready")
    a = ap.parse_args()

    subjects = [("app", a.app, "exo-setup: ui-ready"), ("bare", a.bare, a.bare_marker)]
    res = {"app": [], "bare": []}
    for name, binary, marker in subjects:  # warm-up: page cache, fontconfig cache, WebKit caches
        ms, pss, rss, _ = one_run(binary, marker, 0.5, a.timeout)
        print(f"warm-up {name:4}  ready {ms:6.0f} ms (discarded)", flush=True)
    for i in range(a.runs):
        for name, binary, marker in subjects:
            ms, pss, rss, parts = one_run(binary, marker, a.settle, a.timeout)
            res[name].append((ms, pss, rss))
            print(f"run {i + 1}/{a.runs} {name:4}  ready {ms:6.0f} ms  PSS {pss / 1024:6.1f} MiB  "
                  f"RSS {rss / 1024:6.1f} MiB  [{', '.join(parts)}]", flush=True)

    def med(name, k):
        return statistics.median(r[k] for r in res[name])

    s_app, s_bare = med("app", 0), med("bare", 0)
    p_app, p_bare = med("app", 1) / 1024, med("bare", 1) / 1024
    r_app, r_bare = med("app", 2) / 1024, med("bare", 2) / 1024
    print()
    print(f"median of {a.runs} alternating runs; app = exo-setup, bare = bare Tauri window with static HTML")
    print(f"start  app {s_app:6.0f} ms  bare {s_bare:6.0f} ms  ratio {s_app / s_bare:4.2f}x (target <= 1.2x)")
    print(f"memory app {p_app:6.1f} MiB bare {p_bare:6.1f} MiB ratio {p_app / p_bare:4.2f}x (target <= 1.2x; PSS, "
          f"app + WebKit processes)")
    print(f"rss    app {r_app:6.1f} MiB bare {r_bare:6.1f} MiB ratio {r_app / r_bare:4.2f}x (for reference)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
