"""Shared plumbing for tools/bench/{run,drain-storm,reload-memory}: binaries, free ports, starting
wsecho backends and the proxies (ringway, HAProxy, NGINX) with equivalent configurations in a
temporary directory, pinning, /proc sampling, and cleanup of exactly the processes started here.

Standard library only: it runs with Debian's /usr/bin/python3.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PROXY_CORE = "0"   # the proxy under test
LOAD_CORE = "1"    # wsbench and the wsecho backends


BINARIES = {
    "ringway": os.path.join("proxy", "ringway"),
    "wsecho": os.path.join("tools", "wsecho", "wsecho"),
    "wsbench": os.path.join("tools", "wsbench", "wsbench"),
}
_build_choice = None


def _build_problem(build):
    """Why BUILD cannot serve the benchmarks, or None. It must hold the three binaries, not be a
    sanitized build, and its wsbench must be the current one (--threads and --sources)."""
    missing = [name for name, rel in BINARIES.items() if not os.access(os.path.join(build, rel), os.X_OK)]
    if missing:
        return "no %s" % ", ".join(missing)
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            cache = f.read()
        if "RINGWAY_SANITIZE:BOOL=ON" in cache:
            return "a sanitized build"
        if "RINGWAY_METRICS:BOOL=OFF" in cache:
            return "metrics compiled out (RINGWAY_METRICS=OFF)"
    except OSError:
        pass
    try:
        usage = subprocess.run([os.path.join(build, BINARIES["wsbench"]), "--help"], capture_output=True,
                               text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        usage = ""
    if "--sources" not in usage:
        return "its wsbench predates --threads/--sources (rebuild it)"
    return None


def build_dir():
    """RINGWAY_BUILD when set; else build/release (what tools/check builds) when it is usable; else
    the usable build directory under the repository whose ringway was built last."""
    global _build_choice
    if _build_choice is not None:
        return _build_choice[0]
    if os.environ.get("RINGWAY_BUILD"):
        _build_choice = (os.path.abspath(os.environ["RINGWAY_BUILD"]), "RINGWAY_BUILD")
        return _build_choice[0]
    default = os.path.join(ROOT, "build", "release")
    problem = _build_problem(default)
    if problem is None:
        _build_choice = (default, "default")
        return default
    candidates = []
    for parent in (ROOT, os.path.join(ROOT, "build")):
        try:
            names = sorted(os.listdir(parent))
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            if path == default or not os.path.isdir(path) or not (name.startswith("build") or parent != ROOT):
                continue
            if _build_problem(path) is None:
                candidates.append((os.path.getmtime(os.path.join(path, BINARIES["ringway"])), path))
    if not candidates:
        _build_choice = (default, "default (unusable: %s)" % problem)
        return default
    path = max(candidates)[1]
    _build_choice = (path, "build/release unusable (%s); newest usable build directory" % problem)
    return path


def build_note():
    build_dir()
    return "%s (%s)" % (os.path.relpath(_build_choice[0], ROOT), _build_choice[1])


def binaries():
    build = build_dir()
    bins = {name: os.path.join(build, rel) for name, rel in BINARIES.items()}
    problem = _build_problem(build)
    if problem is not None:
        sys.exit("bench: %s: %s\n  build them first (tools/check release, or cmake + ninja ringway wsecho wsbench)"
                 "\n  or point RINGWAY_BUILD at a build directory" % (build, problem))
    return bins


def need_tools(*names):
    missing = [n for n in names if shutil.which(n) is None and not os.path.exists("/usr/sbin/" + n)]
    if missing:
        sys.exit("bench: %s not installed (apt-get install -y %s; do not start their services)"
                 % (", ".join(missing), " ".join(missing)))


def _installed(name):
    return shutil.which(name) is not None or os.path.exists("/usr/sbin/" + name)


def _quiet(argv, timeout=60):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


def _service_off(name, log):
    """Stops and disables the system service NAME that a fresh install may have started: systemd when
    it runs, else the SysV `service` script (and update-rc.d), else there is nothing to stop."""
    if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        _quiet(["systemctl", "disable", "--now", name])
        log("  %s: systemctl disable --now" % name)
        return
    if shutil.which("service"):
        _quiet(["service", name, "stop"])
        log("  %s: service %s stop" % (name, name))
    if shutil.which("update-rc.d"):
        _quiet(["update-rc.d", name, "disable"])


def ensure_proxies(log=print):
    """Installs HAProxy and NGINX from Debian when missing, without letting their services start
    (policy-rc.d answers 101 while apt runs), then stops and disables those services anyway."""
    missing = [n for n in ("haproxy", "nginx") if not _installed(n)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("bench: %s missing and not root: apt-get install -y %s" % (" ".join(missing), " ".join(missing)))
    log("installing %s from Debian (services kept stopped)" % " ".join(missing))
    policy = "/usr/sbin/policy-rc.d"
    had_policy = os.path.exists(policy)
    if not had_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# tools/bench: no service starts during this install\nexit 101\n")
        os.chmod(policy, 0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        argv = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends"] + missing
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, stdout=subprocess.DEVNULL)
            if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit("bench: apt-get install %s failed" % " ".join(missing))
    finally:
        if not had_policy:
            os.unlink(policy)
    for name in missing:
        _service_off(name, log)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))


def render(template_name, **values):
    with open(os.path.join(HERE, template_name)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    return text


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def process_tree(pid):
    out = [pid] if os.path.exists("/proc/%d" % pid) else []
    for child in children(pid):
        out.extend(process_tree(child))
    return out


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tcp_out_segments():
    """TCP segments this host has sent (Tcp OutSegs in /proc/net/snmp): on loopback, every segment
    of every connection, whoever sent it."""
    with open("/proc/net/snmp") as f:
        tcp = [line.split() for line in f if line.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("OutSegs")])


def tree_memory(pid):
    """(process count, sum of RSS KiB, sum of PSS KiB) over PID and its descendants."""
    pids = process_tree(pid)
    return len(pids), sum(rss_kib(p) for p in pids), sum(pss_kib(p) for p in pids)


def http(method, url, timeout=5.0):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def haproxy_command(sock_path, command):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall((command + "\n").encode())
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
    s.close()
    return b"".join(chunks).decode(errors="replace").strip()


# ringway runs as its container image runs it (Dockerfile): glibc's per-thread malloc cache off, so
# that the memory of closed connections can go back to the system (README, "Memory after closes").
RINGWAY_ENV = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}


class Bench:
    """A temporary directory and the processes started in it; everything is stopped on exit."""

    def __init__(self, log):
        self.bins = binaries()
        self.dir = tempfile.mkdtemp(prefix="ringway-bench-")
        self.procs = []
        self.log = log  # callable(str): the raw output

    # -- process management -------------------------------------------------------------------
    def spawn(self, argv, name, core, env=None):
        """Starts ARGV pinned to CORE (taskset -c), or on any core when CORE is None; ENV: extra
        environment variables."""
        out = open(os.path.join(self.dir, name + ".log"), "ab")
        pin = ["taskset", "-c", core] if core is not None else []
        proc = subprocess.Popen(pin + argv, stdout=out, stderr=subprocess.STDOUT,
                                cwd=self.dir, start_new_session=True, env=dict(os.environ, **(env or {})))
        proc.bench_name = name
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=5.0):
        tree = process_tree(proc.pid)  # before the parent goes: its children get re-parented
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # A second signal: ringway exits at once; the others get SIGKILL.
                try:
                    os.kill(proc.pid, sig if proc.bench_name.startswith("ringway") else signal.SIGKILL)
                    proc.wait(3)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
        # Whatever the process left behind in its own session (nginx/haproxy workers): by pid only.
        for pid in tree[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc in self.procs:
            self.procs.remove(proc)

    def cleanup(self):
        for proc in list(self.procs):
            self.stop(proc, timeout=3.0)
        shutil.rmtree(self.dir, ignore_errors=True)

    def tail(self, name, lines=20):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # -- backends -------------------------------------------------------------------------------
    def backend(self, name):
        port = free_port()
        proc = self.spawn([self.bins["wsecho"], "--listen", "127.0.0.1:%d" % port, "--id", name], name, LOAD_CORE)
        wait_port(port, proc=proc)
        proc.port = port
        return proc

    # -- proxies --------------------------------------------------------------------------------
    # Each proxy runs pinned to PROXY_CORE with one thread/worker by default; pinned=False runs it on
    # any core with its default threading (HAProxy: one thread per core; NGINX: worker_processes
    # auto, as Debian's own nginx.conf has it; ringway: workers: auto).
    def ringway_config(self, backends, port, admin, drain_timeout="10s", hash_key="header:X-User", workers=""):
        lines = "\n".join('      - name: %s\n        address: "127.0.0.1:%d"' % (b.bench_name, b.port)
                          for b in backends)
        return render("ringway.yaml.in", PORT=port, ADMIN=admin, BACKENDS=lines, DRAIN=drain_timeout,
                      HASH=hash_key, WORKERS=("workers: %s" % workers) if workers else "")

    def ringway_accepts(self, top_line):
        """Whether `ringway -c --check` accepts a configuration with TOP_LINE added (e.g. workers)."""
        path = os.path.join(self.dir, "probe.yaml")
        with open(path, "w") as f:
            probe = types.SimpleNamespace(bench_name="probe", port=1)
            f.write(top_line + "\n" + self.ringway_config([probe], 1, 2))
        r = subprocess.run([self.bins["ringway"], "-c", path, "--check"], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def ringway(self, backends, drain_timeout="10s", hash_key="header:X-User", tag="ringway", pinned=True,
                workers=""):
        port, admin = free_port(), free_port()
        path = os.path.join(self.dir, tag + ".yaml")
        with open(path, "w") as f:
            f.write(self.ringway_config(backends, port, admin, drain_timeout, hash_key, workers))
        proc = self.spawn([self.bins["ringway"], "-c", path], tag, PROXY_CORE if pinned else None,
                          env=RINGWAY_ENV)
        wait_port(port, proc=proc)
        wait_port(admin, proc=proc)
        proc.port, proc.admin, proc.config = port, admin, path
        proc.kind = "ringway"
        return proc

    def haproxy(self, backends, balance="roundrobin", master_worker=False, tag="haproxy", pinned=True):
        port = free_port()
        sock = os.path.join(self.dir, tag + ".sock")
        servers = "\n".join("    server %s 127.0.0.1:%d" % (b.bench_name, b.port) for b in backends)
        path = os.path.join(self.dir, tag + ".cfg")
        with open(path, "w") as f:
            f.write(render("haproxy.cfg.in", PORT=port, SOCK=sock, SERVERS=servers, BALANCE=balance,
                           PIDFILE=os.path.join(self.dir, tag + ".pid"),
                           NBTHREAD="nbthread 1" if pinned else "# nbthread: default (one per core)"))
        check = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("haproxy -c failed:\n" + check.stdout + check.stderr)
        argv = ["haproxy", "-db", "-f", path]
        if master_worker:
            argv.insert(1, "-W")
        proc = self.spawn(argv, tag, PROXY_CORE if pinned else None)
        wait_port(port, proc=proc)
        proc.port, proc.sock, proc.config = port, sock, path
        proc.kind = "haproxy"
        return proc

    def nginx(self, backends, balance="", shutdown_timeout="", tag="nginx", pinned=True):
        port = free_port()
        prefix = os.path.join(self.dir, tag)
        os.makedirs(prefix, exist_ok=True)
        path = os.path.join(prefix, "nginx.conf")
        proc_values = dict(PORT=port, PREFIX=prefix, BALANCE=balance, WORKERS="1" if pinned else "auto",
                           USER="user root;" if os.geteuid() == 0 else "",
                           SHUTDOWN=("worker_shutdown_timeout %s;" % shutdown_timeout) if shutdown_timeout else "")
        self.write_nginx(path, backends, proc_values)
        check = subprocess.run(["nginx", "-t", "-q", "-p", prefix, "-c", path, "-e", prefix + "/error.log"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("nginx -t failed:\n" + check.stdout + check.stderr)
        proc = self.spawn(["nginx", "-p", prefix, "-c", path, "-e", prefix + "/error.log"], tag,
                          PROXY_CORE if pinned else None)
        wait_port(port, proc=proc)
        proc.port, proc.config, proc.prefix, proc.values = port, path, prefix, proc_values
        proc.kind = "nginx"
        return proc

    def write_nginx(self, path, backends, values):
        servers = "\n".join("        server 127.0.0.1:%d;" % b.port for b in backends)
        with open(path, "w") as f:
            f.write(render("nginx.conf.in", SERVERS=servers, **values))

    def proxy_pids(self, proc):
        """PIDs whose CPU counts as the proxy's: the process and its children (nginx's worker)."""
        return process_tree(proc.pid)

    # -- the load generator ---------------------------------------------------------------------
    def wsbench_argv(self, port, mode, connections, pids=(), extra=()):
        argv = [self.bins["wsbench"], "--url", "ws://127.0.0.1:%d/bench" % port, "--mode", mode,
                "--connections", str(connections), "--header", "X-User: user-{i}", "--json"]
        for pid in pids:
            argv += ["--pid", str(pid)]
        return argv + list(extra)

    def wsbench(self, port, mode, connections, pids=(), extra=(), timeout=120):
        argv = self.wsbench_argv(port, mode, connections, pids, extra)
        self.log("$ " + " ".join(["taskset", "-c", LOAD_CORE] + argv))
        res = subprocess.run(["taskset", "-c", LOAD_CORE] + argv, capture_output=True, text=True, timeout=timeout)
        return self.wsbench_report(res.returncode, res.stdout, res.stderr)

    def wsbench_background(self, port, mode, connections, pids=(), extra=()):
        """Starts wsbench and returns (Popen, wait_started): call wait_started() to block until the
        measured window has begun."""
        argv = self.wsbench_argv(port, mode, connections, pids, extra)
        self.log("$ " + " ".join(["taskset", "-c", LOAD_CORE] + argv))
        proc = subprocess.Popen(["taskset", "-c", LOAD_CORE] + argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

        def wait_started(timeout=60.0):
            deadline = time.time() + timeout
            while time.time() < deadline:
                line = proc.stderr.readline()
                if not line:
                    if proc.poll() is not None:
                        raise RuntimeError("wsbench exited %s during setup: %s" % (proc.returncode, proc.stdout.read()))
                    continue
                if "window started" in line:
                    return
            raise RuntimeError("wsbench did not start its window within %.0f s" % timeout)

        return proc, wait_started

    def finish_background(self, proc, timeout=120):
        out, err = proc.communicate(timeout=timeout)
        return self.wsbench_report(proc.returncode, out, err)

    def wsbench_report(self, returncode, out, err):
        """The JSON report of a finished wsbench (exit 0, or 3: an echo came back wrong), logged;
        a setup failure, a usage error or no report raises."""
        self.log(out.rstrip() + ("\n" + err.rstrip() if err.strip() else ""))
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if returncode not in (0, 3) or not lines:
            raise RuntimeError("wsbench exited %s: %s" % (returncode, err.strip()[-500:]))
        data = json.loads(lines[-1])
        data["exit"] = returncode
        return data


def machine_description():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    uname = os.uname()
    versions = []
    for cmd in (["haproxy", "-v"], ["nginx", "-v"]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            versions.append((r.stdout + r.stderr).splitlines()[0].strip())
        except OSError:
            versions.append(cmd[0] + " missing")
    return "%d cores (nproc %s; %s), Linux %s; %s; %s" % (
        os.cpu_count(), len(os.sched_getaffinity(0)), model, uname.release, versions[0], versions[1])


def source_description():
    """The commit and whether the tree had uncommitted changes (read-only git queries), and the
    version the ringway binary reports."""
    def run(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    head = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = len([l for l in run(["git", "-C", ROOT, "status", "--porcelain"]).splitlines() if l.strip()])
    version = run([os.path.join(build_dir(), "proxy", "ringway"), "--version"])
    binary = os.path.join(build_dir(), "proxy", "ringway")
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(binary))) if os.path.exists(binary) else "?"
    return "%s, commit %s%s, binary built %s" % (version, head, " + %d uncommitted paths" % dirty if dirty else "", built)


def results_path(suffix):
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    path = os.path.join(out_dir, "%s-%s" % (stamp, suffix))
    n = 2
    while os.path.exists(path):
        base, ext = os.path.splitext(os.path.join(out_dir, "%s-%s" % (stamp, suffix)))
        path = "%s-%d%s" % (base, n, ext)
        n += 1
    return path


class Recorder:
    """Prints and keeps every line, to be written to bench/results/ at the end."""

    def __init__(self, quiet=False):
        self.lines = []
        self.quiet = quiet

    def __call__(self, text):
        self.lines.append(text)
        if not self.quiet:
            print(text, flush=True)

    def save(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
