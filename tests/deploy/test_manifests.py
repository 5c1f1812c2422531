"""Validates the Kubernetes manifests in deploy/kubernetes against ringway and its image.

Every manifest is parsed; for every container that runs the ringway image, the configuration it
mounts (found through its `-c` path, its volume mounts and the ConfigMap in the same manifests) must
pass the real `ringway --check` (RINGWAY_BIN), and the Pod around it must agree with that file:
probes on the admin port with /ready and /healthz, declared ports for every bind, a termination
grace period that covers shutdown.delay + shutdown.drain_timeout (and the preStop of an app that
ringway forwards to in the same Pod), the image's non-root user, Services that reach a listener,
backend host names that match a headless Service and its StatefulSet. The config-reloader's shell
script is taken from the manifest and run for real (in a PID namespace of its own, so it can only
signal the ringway started here) to show that a ConfigMap-style update makes ringway reload.

Run with /usr/bin/python3 (Debian's python3-yaml):
  RINGWAY_BIN=build/release/proxy/ringway /usr/bin/python3 tests/deploy/test_manifests.py
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("tests/deploy: python3-yaml is missing (apt-get install python3-yaml)")

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = Path(os.environ.get("RINGWAY_MANIFESTS", ROOT / "deploy" / "kubernetes"))
DOCKERFILE = Path(os.environ.get("RINGWAY_DOCKERFILE", ROOT / "Dockerfile"))
RINGWAY_BIN = os.environ.get("RINGWAY_BIN", "")

API_VERSIONS = {
    "ConfigMap": "v1", "Service": "v1", "Secret": "v1", "Pod": "v1",
    "Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1",
}
DEFAULT_GRACE = 30  # Kubernetes' default terminationGracePeriodSeconds
APP_EXIT_MARGIN = 5  # seconds an app keeps after its preStop, before the kill
RELOADER_MARK = "kill -HUP"


# ----------------------------------------------------------------------------------------------
# Loading


def load_documents():
    docs = []
    for path in sorted(list(MANIFEST_DIR.rglob("*.yaml")) + list(MANIFEST_DIR.rglob("*.yml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((path.name, doc))
    return docs


def image_defaults():
    """USER and ENTRYPOINT of the Dockerfile's last stage (what the runtime image runs)."""
    user, entrypoint = None, None
    for line in DOCKERFILE.read_text().splitlines():
        line = line.strip()
        if re.match(r"(?i)^FROM\s", line):
            user, entrypoint = None, None
        elif re.match(r"(?i)^USER\s", line):
            user = line.split(None, 1)[1].strip()
        elif re.match(r"(?i)^ENTRYPOINT\s", line):
            entrypoint = json.loads(line.split(None, 1)[1])
    return user, entrypoint


def parse_seconds(text):
    text = str(text).strip()
    if text == "0":
        return 0.0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def split_hostport(text):
    text = str(text)
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


def pod_templates(docs):
    """(file, owner kind, owner doc, pod metadata, pod spec) for every Pod template."""
    for name, doc in docs:
        kind = doc.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            t = doc["spec"]["template"]
            yield name, kind, doc, t.get("metadata", {}), t["spec"]
        elif kind == "CronJob":
            t = doc["spec"]["jobTemplate"]["spec"]["template"]
            yield name, kind, doc, t.get("metadata", {}), t["spec"]
        elif kind == "Pod":
            yield name, kind, doc, doc.get("metadata", {}), doc["spec"]


def is_ringway(container):
    repo = container.get("image", "").rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return repo == "ringway"


def prestop_seconds(container):
    pre = container.get("lifecycle", {}).get("preStop") or {}
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    cmd = " ".join(pre.get("exec", {}).get("command", []))
    m = re.search(r"\bsleep\s+(\d+)", cmd)
    return int(m.group(1)) if m else 0


def container_port(container, port):
    """A probe's or Service's port (number or name) as a number, if the container declares it."""
    for p in container.get("ports", []):
        if port == p.get("name") or port == p.get("containerPort"):
            return p["containerPort"]
    return port if isinstance(port, int) else None


def effective(spec, container, key):
    return container.get("securityContext", {}).get(key, spec.get("securityContext", {}).get(key))


class Ringway:
    """One ringway container of a Pod template, with the configuration it mounts."""

    def __init__(self, file, owner, meta, spec, container, configmaps, entrypoint):
        self.file, self.owner, self.meta, self.spec, self.c = file, owner, meta, spec, container
        self.label = f"{file}: {owner['kind']} {owner['metadata']['name']}, container {container['name']}"
        argv = list(container.get("command") or entrypoint or []) + list(container.get("args") or [])
        self.config_path = argv[argv.index("-c") + 1] if "-c" in argv else None
        self.mount, self.volume, self.configmap, self.key, self.text = None, None, None, None, None
        if self.config_path is None:
            return
        cdir = os.path.dirname(self.config_path)
        for m in container.get("volumeMounts", []):
            if m["mountPath"] in (cdir, self.config_path):
                self.mount = m
        if self.mount is None:
            return
        self.volume = next((v for v in spec.get("volumes", []) if v["name"] == self.mount["name"]), None)
        if self.volume is None or "configMap" not in self.volume:
            return
        self.configmap = configmaps.get(self.volume["configMap"]["name"])
        rel = self.mount.get("subPath") or os.path.relpath(self.config_path, self.mount["mountPath"])
        self.key = rel
        for item in self.volume["configMap"].get("items", []):
            if item["path"] == rel:
                self.key = item["key"]
        if self.configmap is not None:
            self.text = self.configmap.get("data", {}).get(self.key)
        self.config = yaml.safe_load(self.text) if self.text else None

    def admin(self):
        return split_hostport(self.config["admin"]["bind"]) if self.config.get("admin") else None

    def shutdown(self):
        s = self.config.get("shutdown") or {}
        return parse_seconds(s.get("delay", "0s")), parse_seconds(s.get("drain_timeout", "30s"))

    def reloaders(self):
        """Other containers of the Pod that mount the same ConfigMap volume and send SIGHUP."""
        out = []
        for c in self.spec["containers"]:
            if c is self.c:
                continue
            script = " ".join(c.get("command", []) + c.get("args", []))
            mounts = [m for m in c.get("volumeMounts", []) if self.volume and m["name"] == self.volume["name"]]
            if RELOADER_MARK in script and mounts:
                out.append((c, mounts[0]))
        return out


# ----------------------------------------------------------------------------------------------


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_documents()
        cls.image_user, cls.entrypoint = image_defaults()
        cls.configmaps = {d["metadata"]["name"]: d for _, d in cls.docs if d.get("kind") == "ConfigMap"}
        cls.ringways = []
        for file, _kind, owner, meta, spec in pod_templates(cls.docs):
            for c in spec["containers"]:
                if is_ringway(c):
                    cls.ringways.append(Ringway(file, owner, meta, spec, c, cls.configmaps, cls.entrypoint))

    def test_documents(self):
        self.assertTrue(self.docs, f"no manifests in {MANIFEST_DIR}")
        files = {f for f, _ in self.docs}
        self.assertIn("sidecar.yaml", files)
        self.assertIn("standalone.yaml", files)
        seen = set()
        for file, d in self.docs:
            with self.subTest(file=file, kind=d.get("kind")):
                self.assertIn("kind", d)
                self.assertIn("name", d.get("metadata", {}))
                if d["kind"] in API_VERSIONS:
                    self.assertEqual(d.get("apiVersion"), API_VERSIONS[d["kind"]])
                key = (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
                self.assertNotIn(key, seen, "defined twice")
                seen.add(key)

    def test_image_defaults(self):
        self.assertIsNotNone(self.entrypoint, "the Dockerfile's last stage has no ENTRYPOINT")
        self.assertIn("-c", self.entrypoint)
        self.assertIsNotNone(self.image_user, "the Dockerfile's last stage has no USER")
        self.assertNotIn(self.image_user.split(":")[0], ("0", "root"))

    def test_every_ringway_mounts_a_configmap(self):
        self.assertGreaterEqual(len(self.ringways), 2)
        for r in self.ringways:
            with self.subTest(r.label):
                self.assertIsNotNone(r.config_path, "no -c PATH in the command or the image's ENTRYPOINT")
                self.assertIsNotNone(r.mount, f"nothing mounted at {r.config_path} or its folder")
                self.assertNotIn("subPath", r.mount, "a subPath mount never sees ConfigMap updates")
                self.assertTrue(r.mount.get("readOnly"), "mount the configuration read-only")
                self.assertIsNotNone(r.configmap, f"the volume names no ConfigMap of these manifests")
                self.assertIsNotNone(r.text, f"ConfigMap has no key {r.key!r}")

    def test_configs_pass_ringway_check(self):
        if not RINGWAY_BIN:
            self.skipTest("RINGWAY_BIN not set")
        checked = 0
        with tempfile.TemporaryDirectory() as tmp:
            for name, cm in self.configmaps.items():
                for key, text in (cm.get("data") or {}).items():
                    if not key.endswith((".yaml", ".yml")):
                        continue
                    with self.subTest(configmap=name, key=key):
                        path = os.path.join(tmp, f"{name}-{key}")
                        with open(path, "w") as f:
                            f.write(text)
                        r = subprocess.run([RINGWAY_BIN, "-c", path, "--check"], capture_output=True,
                                           text=True, timeout=30)
                        self.assertEqual(r.returncode, 0, f"ringway --check:\n{r.stdout}{r.stderr}")
                        self.assertIn("configuration OK", r.stdout)
                        checked += 1
        self.assertGreaterEqual(checked, 2)

    def test_probes_hit_the_admin_listener(self):
        for r in self.ringways:
            with self.subTest(r.label):
                admin = r.admin()
                self.assertIsNotNone(admin, "no admin.bind: the probes would have nothing to ask")
                host, port = admin
                self.assertNotIn(host, ("127.0.0.1", "::1", "localhost"),
                                 "the kubelet probes the Pod's IP: the admin bind cannot be loopback")
                want = {"readinessProbe": "/ready", "livenessProbe": "/healthz", "startupProbe": None}
                for probe, path in want.items():
                    p = r.c.get(probe)
                    if p is None:
                        self.assertIsNone(path, f"no {probe}")
                        continue
                    self.assertIn("httpGet", p, f"{probe}: use httpGet")
                    g = p["httpGet"]
                    self.assertIn(g["path"], (path,) if path else ("/healthz", "/ready"), probe)
                    self.assertEqual(g.get("scheme", "HTTP"), "HTTP", probe)
                    self.assertEqual(container_port(r.c, g["port"]), port,
                                     f"{probe} port {g['port']!r} is not admin.bind's port {port}")

    def test_container_ports_declare_every_bind(self):
        for r in self.ringways:
            with self.subTest(r.label):
                declared = {p["containerPort"] for p in r.c.get("ports", [])}
                binds = [split_hostport(l["bind"])[1] for l in r.config["listeners"]] + [r.admin()[1]]
                for port in binds:
                    self.assertIn(port, declared, f"port {port} is bound but not declared")

    def test_grace_period_covers_the_drain(self):
        for r in self.ringways:
            with self.subTest(r.label):
                delay, drain = r.shutdown()
                grace = r.spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
                need = prestop_seconds(r.c) + delay + drain
                self.assertGreaterEqual(grace, need + 1,
                                        f"terminationGracePeriodSeconds {grace} < preStop + shutdown.delay "
                                        f"{delay:g}s + drain_timeout {drain:g}s + 1")
                # An app in the same Pod that ringway forwards to must outlive the drain, or its
                # clients see it vanish (Close 1012) instead of a paced Close 1001.
                for pool in r.config["pools"]:
                    for b in pool["backends"]:
                        host, port = split_hostport(b["address"])
                        if host not in ("127.0.0.1", "::1", "localhost"):
                            continue
                        apps = [c for c in r.spec["containers"]
                                if c is not r.c and port in {p["containerPort"] for p in c.get("ports", [])}]
                        self.assertTrue(apps, f"backend {b['address']}: no container of the Pod declares port {port}")
                        for app in apps:
                            pre = prestop_seconds(app)
                            self.assertGreaterEqual(pre, delay + drain,
                                                    f"{app['name']}: preStop {pre}s < shutdown.delay + drain_timeout")
                            self.assertGreaterEqual(grace, pre + APP_EXIT_MARGIN,
                                                    f"{app['name']}: no time left after its preStop")

    def test_runs_as_the_image_user(self):
        uid = self.image_user.split(":")[0]
        for r in self.ringways:
            with self.subTest(r.label):
                self.assertIs(effective(r.spec, r.c, "runAsNonRoot"), True)
                run_as = effective(r.spec, r.c, "runAsUser")
                if uid.isdigit() and run_as is not None:
                    self.assertEqual(str(run_as), uid, "runAsUser differs from the image's USER")
                self.assertIs(r.c.get("securityContext", {}).get("readOnlyRootFilesystem"), True)
                self.assertIs(r.c.get("securityContext", {}).get("allowPrivilegeEscalation"), False)

    def test_config_reloader(self):
        uid = self.image_user.split(":")[0]
        for r in self.ringways:
            with self.subTest(r.label):
                reloaders = r.reloaders()
                self.assertEqual(len(reloaders), 1, "expected one config-reloader next to ringway")
                c, mount = reloaders[0]
                self.assertIs(r.spec.get("shareProcessNamespace"), True,
                              "the reloader cannot see ringway without shareProcessNamespace")
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                self.assertEqual(env.get("CONFIG_DIR"), mount["mountPath"])
                self.assertEqual(mount["mountPath"], r.mount["mountPath"])
                self.assertNotIn("subPath", mount)
                # Signalling another process without CAP_KILL needs the same uid.
                ringway_uid = str(effective(r.spec, r.c, "runAsUser") or uid)
                self.assertEqual(str(effective(r.spec, c, "runAsUser")), ringway_uid)
                self.assertIs(effective(r.spec, c, "runAsNonRoot"), True)

    def test_services_reach_a_listener(self):
        pods = list(pod_templates(self.docs))
        for file, svc in self.docs:
            if svc.get("kind") != "Service":
                continue
            with self.subTest(file=file, service=svc["metadata"]["name"]):
                sel = svc["spec"].get("selector") or {}
                matched = [(meta, spec) for _, _, _, meta, spec in pods
                           if sel and all(meta.get("labels", {}).get(k) == v for k, v in sel.items())]
                self.assertTrue(matched, f"selector {sel} matches no Pod template")
                for port in svc["spec"]["ports"]:
                    target = port.get("targetPort", port["port"])
                    for meta, spec in matched:
                        numbers = [container_port(c, target) for c in spec["containers"]
                                   if container_port(c, target) in {p["containerPort"] for p in c.get("ports", [])}]
                        self.assertTrue(numbers, f"targetPort {target!r} is no container port")
                        for r in self.ringways:
                            if r.spec is spec:
                                listeners = {split_hostport(l["bind"])[1] for l in r.config["listeners"]}
                                self.assertTrue(set(numbers) & listeners,
                                                f"targetPort {target!r} is not a ringway listener")

    def test_backend_fleet_names(self):
        services = {d["metadata"]["name"]: d for _, d in self.docs if d.get("kind") == "Service"}
        statefulsets = {d["metadata"]["name"]: d for _, d in self.docs if d.get("kind") == "StatefulSet"}
        fleets = 0
        for r in self.ringways:
            for pool in r.config["pools"]:
                ordinals = {}
                for b in pool["backends"]:
                    host, port = split_hostport(b["address"])
                    m = re.fullmatch(r"([a-z0-9-]+)-(\d+)\.([a-z0-9-]+)(\..*)?", host)
                    if not m or m.group(1) not in statefulsets:
                        continue
                    with self.subTest(r.label, backend=b["name"]):
                        sts = statefulsets[m.group(1)]
                        svc = services.get(m.group(3))
                        self.assertIsNotNone(svc, f"no Service {m.group(3)}")
                        self.assertEqual(svc["spec"].get("clusterIP"), "None", "the Service must be headless")
                        self.assertEqual(sts["spec"]["serviceName"], m.group(3))
                        labels = sts["spec"]["template"]["metadata"]["labels"]
                        self.assertTrue(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()))
                        self.assertLess(int(m.group(2)), sts["spec"].get("replicas", 1), "no such ordinal")
                        ports = {p["containerPort"] for c in sts["spec"]["template"]["spec"]["containers"]
                                 for p in c.get("ports", [])}
                        self.assertIn(port, ports)
                        ordinals.setdefault(m.group(1), set()).add(int(m.group(2)))
                for name, seen in ordinals.items():
                    fleets += 1
                    with self.subTest(r.label, statefulset=name):
                        self.assertEqual(seen, set(range(statefulsets[name]["spec"].get("replicas", 1))),
                                         "the pool should list every Pod of the StatefulSet")
        self.assertGreaterEqual(fleets, 1, "no pool in front of a StatefulSet fleet")

    # -- the reloader's script, run for real -----------------------------------------------------

    def test_reloader_script_makes_ringway_reload(self):
        if not RINGWAY_BIN:
            self.skipTest("RINGWAY_BIN not set")
        if shutil.which("unshare") is None or os.geteuid() != 0:
            self.skipTest("needs root and unshare: the script signals every process named ringway, so "
                          "it runs in a PID namespace of its own")
        probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest(f"unshare --pid refused here: {probe.stderr.decode().strip()}")
        scripts = {}
        for r in self.ringways:
            for c, _ in r.reloaders():
                script = c["command"][-1] if c.get("command") else c["args"][-1]
                scripts.setdefault(script, (r, c))
        self.assertTrue(scripts)
        for script, (r, c) in scripts.items():
            with self.subTest(r.label, container=c["name"]):
                with tempfile.TemporaryDirectory() as tmp:
                    Path(tmp, "reload.sh").write_text(script)
                    Path(tmp, "ringway.yaml").write_text(r.text)
                    out = subprocess.run(
                        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, __file__,
                         "--reload-inner", tmp],
                        capture_output=True, text=True, timeout=90,
                        env=dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "integration")))
                    self.assertEqual(out.returncode, 0, f"{out.stdout}{out.stderr}")
                    print(out.stdout.strip(), flush=True)


# ----------------------------------------------------------------------------------------------
# Inside the PID namespace: ringway (from RINGWAY_BIN) and the reloader's script on a ConfigMap-like
# folder, updated the way the kubelet does it.


def free_port():
    try:
        from harness import free_port as reserved  # the integration tests' cross-process reservation
        return reserved()
    except Exception:  # noqa: BLE001
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def write_configmap_version(cmdir, n, text):
    """Like the kubelet's AtomicWriter: a new ..TIMESTAMP folder, then ..data swapped by rename."""
    version = f"..2025_01_01_00_00_0{n}.{os.getpid()}"
    os.mkdir(os.path.join(cmdir, version))
    with open(os.path.join(cmdir, version, "ringway.yaml"), "w") as f:
        f.write(text)
    tmp_link = os.path.join(cmdir, "..data_tmp")
    os.symlink(version, tmp_link)
    os.rename(tmp_link, os.path.join(cmdir, "..data"))
    if not os.path.lexists(os.path.join(cmdir, "ringway.yaml")):
        os.symlink("..data/ringway.yaml", os.path.join(cmdir, "ringway.yaml"))


def reload_inner(tmp):
    config = yaml.safe_load(Path(tmp, "ringway.yaml").read_text())
    # Loopback only, free ports, and backends that need no cluster DNS (nothing is proxied here).
    for listener in config["listeners"]:
        listener["bind"] = f"127.0.0.1:{free_port()}"
    admin = free_port()
    config["admin"] = {"bind": f"127.0.0.1:{admin}"}
    for pool in config["pools"]:
        for b in pool["backends"]:
            b["address"] = "127.0.0.1:9"
    cmdir = os.path.join(tmp, "etc-ringway")
    os.mkdir(cmdir)
    write_configmap_version(cmdir, 1, yaml.safe_dump(config, sort_keys=False))
    procs = []
    rw_log, reloader_log = os.path.join(tmp, "ringway.log"), os.path.join(tmp, "reloader.log")

    def fail(msg):
        print(f"FAIL: {msg}\n--- ringway ---\n{Path(rw_log).read_text()}\n--- reloader ---\n"
              f"{Path(reloader_log).read_text()}")
        sys.exit(1)

    def status():
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/status", timeout=2) as resp:
            return json.loads(resp.read())

    try:
        with open(rw_log, "wb") as out:
            procs.append(subprocess.Popen([RINGWAY_BIN, "-c", os.path.join(cmdir, "ringway.yaml")],
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while True:
            try:
                gen = status()["generation"]
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    fail("ringway did not start")
                time.sleep(0.05)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONFIG_DIR": cmdir, "INTERVAL": "0.2"}
        with open(reloader_log, "wb") as out:
            procs.append(subprocess.Popen(["/bin/sh", "-c", Path(tmp, "reload.sh").read_text()], env=env,
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        time.sleep(1.0)
        if status()["generation"] != gen or "configuration reloaded" in Path(rw_log).read_text():
            fail("the reloader sent SIGHUP although nothing changed")
        config["limits"] = dict(config.get("limits") or {}, max_connections=12345)
        write_configmap_version(cmdir, 2, yaml.safe_dump(config, sort_keys=False))
        deadline = time.monotonic() + 15
        while "configuration reloaded" not in Path(rw_log).read_text():
            if time.monotonic() > deadline:
                fail("no reload within 15 s of the ConfigMap update")
            time.sleep(0.05)
        new_gen = status()["generation"]
        if new_gen != gen + 1 or procs[0].poll() is not None:
            fail(f"generation {gen} -> {new_gen}, ringway alive: {procs[0].poll() is None}")
        print(f"reloader: ConfigMap update -> SIGHUP -> ringway generation {gen} -> {new_gen}; "
              f"{Path(reloader_log).read_text().strip().splitlines()[-1]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reload-inner":
        reload_inner(sys.argv[2])
        sys.exit(0)
    unittest.main(verbosity=2)
