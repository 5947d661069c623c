"""A loopback fake of the Kubernetes REST API: the subset chaosrunner's Kubernetes driver calls.

No Kubernetes cluster can run on the machines the suite runs on, so the driver is tested against
this server instead: the real ``kubernetes`` client talks to it over HTTP on 127.0.0.1, through a
kubeconfig (``FakeCluster.kubeconfig``) with a bearer token. What it implements, and nothing more:

- pods: list (``labelSelector``, ``fieldSelector`` on ``spec.nodeName``/``metadata.name``), get,
  create, merge-patch, delete (``gracePeriodSeconds`` recorded), the ``eviction`` subresource
  (429 when a PodDisruptionBudget's ``minAvailable`` would be broken), across all namespaces too;
- deployments and statefulsets: list, get, merge-patch, and the ``scale`` subresource (get, patch);
- networkpolicies: list, get, create, delete; poddisruptionbudgets: list; events: list;
- nodes: list, get, merge-patch (cordon: ``spec.unschedulable``).

Behaviour a client relies on, as the real API server does it: ``Status`` bodies with the real
reasons (401 without the token, 404 NotFound, 409 AlreadyExists, 409 Conflict when a write names
an outdated ``metadata.resourceVersion``, 415 for JSON patches, 422 Invalid, 429 TooManyRequests
for a blocked eviction); one resourceVersion counter for every write. A tiny controller keeps
each workload's pods at ``spec.replicas`` (a replacement is Ready ``ready_delay`` seconds after it
is created, on a schedulable node) and replaces every pod when the pod template changes (a
rollout restart). Strategic merge patches are applied as JSON merge patches (enough for the
maps and scalars the driver patches). Watches are not implemented (the driver polls).
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-cluster-token"

# (group, version, plural) → (kind, namespaced)
RESOURCES: dict[tuple[str, str, str], tuple[str, bool]] = {
    ("", "v1", "pods"): ("Pod", True),
    ("", "v1", "nodes"): ("Node", False),
    ("", "v1", "events"): ("Event", True),
    ("", "v1", "services"): ("Service", True),
    ("apps", "v1", "deployments"): ("Deployment", True),
    ("apps", "v1", "statefulsets"): ("StatefulSet", True),
    ("networking.k8s.io", "v1", "networkpolicies"): ("NetworkPolicy", True),
    ("policy", "v1", "poddisruptionbudgets"): ("PodDisruptionBudget", True),
}
_PATH = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<ver>[^/]+))"
                   r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$")


class ApiStatus(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _labels_match(labels: dict[str, str], selector: str) -> bool:
    """Equality-based and existence label selectors (``a=b,c!=d,e,!f``), as the API server reads them."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field(obj: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _fields_match(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        k, v = term.split("!=" if negate else "=", 1)
        value = _field(obj, k.lstrip("="))
        if (str(value) == v.lstrip("=")) == negate:
            return False
    return True


def _selector_labels(selector: dict[str, Any] | None) -> dict[str, str]:
    return dict((selector or {}).get("matchLabels") or {})


class FakeCluster:
    """The objects of a pretend cluster and the HTTP server that serves them (``start``/``stop``)."""

    def __init__(self, ready_delay: float = 0.3):
        self.ready_delay = ready_delay
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}     # (kind, namespace, name)
        self.log: list[tuple[float, str, str, str, str]] = []            # (time, verb, kind, ns, name)
        self.deletions: list[dict[str, Any]] = []                          # each deleted pod: name, grace
        self.requests: set[tuple[str, str, str, str]] = set()             # (RBAC verb, group, resource, ns or *)
        self._rv = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- building the cluster ---------------------------------------------------------------
    def add(self, kind: str, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        with self._lock:
            return self._create(kind, namespace, obj)

    def add_node(self, name: str, zone: str) -> None:
        self.add("Node", {"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone,
                                                                 "kubernetes.io/hostname": name}},
                          "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})

    def add_workload(self, kind: str, namespace: str, name: str, replicas: int, labels: dict[str, str],
                     memory_limit: str = "512Mi") -> None:
        """A Deployment or StatefulSet whose pods the controller creates (Ready at once)."""
        container = {"name": name, "image": f"example/{name}:1",
                     "resources": {"limits": {"memory": memory_limit, "cpu": "500m"}}}
        self.add(kind, {"metadata": {"name": name, "labels": dict(labels)},
                        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                                 "template": {"metadata": {"labels": dict(labels)},
                                              "spec": {"containers": [container]}}}}, namespace)
        with self._lock:
            for pod in self.pods(namespace, labels):
                pod["status"]["_ready_at"] = 0.0
            self._refresh()

    # -- reading it (tests) -----------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._refresh()
            obj = self.objects.get((kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._refresh()
            return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                    if k == kind and (namespace is None or ns == namespace)]

    def pods(self, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        """The live pod objects (not copies) with these labels; callers hold the lock or only read."""
        return [o for (k, ns, _), o in sorted(self.objects.items()) if k == "Pod" and ns == namespace
                and all(o["metadata"].get("labels", {}).get(a) == b for a, b in labels.items())]

    def ready_pods(self, namespace: str, labels: dict[str, str]) -> list[str]:
        with self._lock:
            self._refresh()
            return [p["metadata"]["name"] for p in self.pods(namespace, labels) if self._ready(p)]

    # -- the HTTP server --------------------------------------------------------------------
    def start(self) -> str:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, verb: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        raise ApiStatus(401, "Unauthorized", "Unauthorized")
                    body = json.loads(raw) if raw else None
                    code, out = cluster.handle(verb, self.path, body, self.headers.get("Content-Type", ""))
                except ApiStatus as exc:
                    code, out = exc.code, exc.body()
                except (ValueError, KeyError, TypeError) as exc:
                    code, out = 400, ApiStatus(400, "BadRequest", f"bad request: {exc}").body()
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, path: Path, contexts: tuple[str, ...] = ("fake",), namespace: str = "default") -> Path:
        """A kubeconfig whose contexts all reach this server with its token."""
        import yaml

        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [{"name": c, "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}
                         for c in contexts]}))
        return path

    # -- the API ----------------------------------------------------------------------------
    def handle(self, verb: str, path: str, body: Any, content_type: str) -> tuple[int, dict[str, Any]]:
        url = urlsplit(path)
        m = _PATH.match(url.path)
        if not m:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        group, version = (m["group"], m["ver"]) if m["group"] else ("", "v1")
        key = (group, version, m["plural"])
        if key not in RESOURCES:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        kind, namespaced = RESOURCES[key]
        ns, name, sub = m["ns"] or "", m["name"], m["sub"]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        rbac_verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                     "DELETE": "delete"}[verb]
        self.requests.add((rbac_verb, group, m["plural"] + (f"/{sub}" if sub else ""), ns or "*"))
        if query.get("watch") in ("true", "1"):
            raise ApiStatus(405, "MethodNotAllowed", "this fake API server does not implement watches")
        if verb == "PATCH" and "json-patch" in content_type:
            raise ApiStatus(415, "UnsupportedMediaType", "this fake API server applies merge patches only")
        with self._lock:
            self._refresh()
            if name is None:
                if verb == "GET":
                    return 200, self._list(kind, m["ns"] if namespaced else None, query, group, version)
                if verb == "POST":
                    return 201, self._public(self._create(kind, ns, body, log=True))
                raise ApiStatus(405, "MethodNotAllowed", f"{verb} on a collection is not supported")
            if sub == "scale" and kind in ("Deployment", "StatefulSet"):
                return 200, self._scale(verb, kind, ns, name, body)
            if sub == "eviction" and kind == "Pod" and verb == "POST":
                return 201, self._evict(ns, name)
            if sub is not None:
                raise ApiStatus(404, "NotFound", f"no subresource {sub} of {m['plural']}")
            obj = self._existing(kind, ns, name, m["plural"])
            if verb == "GET":
                return 200, self._public(obj)
            if verb == "DELETE":
                options = dict(body or {})
                if "gracePeriodSeconds" in query:               # the client sends it as a parameter or in the body
                    options.setdefault("gracePeriodSeconds", int(query["gracePeriodSeconds"]))
                return 200, self._delete(kind, ns, name, options)
            if verb == "PATCH":
                self._check_rv(obj, body)
                return 200, self._public(self._update(kind, ns, name, merge_patch(obj, body)))
            if verb == "PUT":
                if not (body or {}).get("metadata", {}).get("resourceVersion"):
                    raise ApiStatus(422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified "
                                                     "for an update")
                self._check_rv(obj, body)
                return 200, self._public(self._update(kind, ns, name, body))
        raise ApiStatus(405, "MethodNotAllowed", f"{verb} is not supported")

    def _existing(self, kind: str, ns: str, name: str, plural: str) -> dict[str, Any]:
        obj = self.objects.get((kind, ns, name))
        if obj is None:
            raise ApiStatus(404, "NotFound", f'{plural} "{name}" not found')
        return obj

    @staticmethod
    def _check_rv(obj: dict[str, Any], body: Any) -> None:
        rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != obj["metadata"]["resourceVersion"]:
            raise ApiStatus(409, "Conflict", f'Operation cannot be fulfilled on {obj["kind"].lower()}s '
                                             f'"{obj["metadata"]["name"]}": the object has been modified; please '
                                             "apply your changes to the latest version and try again")

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        out.get("status", {}).pop("_ready_at", None)
        return out

    def _list(self, kind: str, ns: str | None, query: dict[str, str], group: str, version: str) -> dict[str, Any]:
        items = [self._public(o) for (k, n, _), o in sorted(self.objects.items())
                 if k == kind and (ns is None or n == ns)
                 and _labels_match(o["metadata"].get("labels") or {}, query.get("labelSelector", ""))
                 and _fields_match(o, query.get("fieldSelector", ""))]
        return {"kind": f"{kind}List", "apiVersion": f"{group}/{version}" if group else version,
                "metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    def _create(self, kind: str, ns: str, body: dict[str, Any], log: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise ApiStatus(422, "Invalid", "metadata.name: Required value: name or generateName is required")
        if (kind, ns, meta["name"]) in self.objects:
            raise ApiStatus(409, "AlreadyExists", f'{kind.lower()}s "{meta["name"]}" already exists')
        group = next(g for (g, _, _), (k, _) in RESOURCES.items() if k == kind)
        obj.update(kind=kind, apiVersion=f"{group}/v1" if group else "v1")
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(next(self._rv)), creationTimestamp=_now(),
                    generation=1)
        if ns:
            meta["namespace"] = ns
        obj.setdefault("spec", {})
        obj.setdefault("status", {})
        if kind == "Pod":
            obj["status"].setdefault("_ready_at", time.monotonic() + self.ready_delay)
            obj["status"].setdefault("phase", "Pending")
        self.objects[(kind, ns, meta["name"])] = obj
        if log:
            self.log.append((time.monotonic(), "create", kind, ns, meta["name"]))
        self._reconcile()
        return obj

    def _update(self, kind: str, ns: str, name: str, new: dict[str, Any]) -> dict[str, Any]:
        old = self.objects[(kind, ns, name)]
        if kind in ("Deployment", "StatefulSet") and int(new.get("spec", {}).get("replicas", 0)) < 0:
            raise ApiStatus(422, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0")
        new = copy.deepcopy(new)
        new["metadata"] = {**new.get("metadata", {}), "uid": old["metadata"]["uid"],
                           "resourceVersion": str(next(self._rv)), "name": name}
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self.objects[(kind, ns, name)] = new
        self.log.append((time.monotonic(), "update", kind, ns, name))
        self._reconcile()
        return new

    def _delete(self, kind: str, ns: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
        obj = self.objects[(kind, ns, name)]
        uid = (options.get("preconditions") or {}).get("uid")
        if uid is not None and uid != obj["metadata"]["uid"]:
            raise ApiStatus(409, "Conflict", f"Precondition failed: UID in precondition: {uid}, "
                                             f"UID in object meta: {obj['metadata']['uid']}")
        del self.objects[(kind, ns, name)]
        self.log.append((time.monotonic(), "delete", kind, ns, name))
        if kind == "Pod":
            self.deletions.append({"name": name, "namespace": ns, "grace": options.get("gracePeriodSeconds")})
            self._event(ns, obj, "Killing", f"Stopping container {name}")
        self._reconcile()
        return self._public(obj)

    def _event(self, ns: str, obj: dict[str, Any], reason: str, message: str) -> None:
        name = f"{obj['metadata']['name']}.{uuid.uuid4().hex[:8]}"
        self.objects[("Event", ns, name)] = {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": str(next(self._rv)),
                         "creationTimestamp": _now()},
            "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"], "namespace": ns},
            "reason": reason, "message": message, "type": "Normal", "lastTimestamp": _now(), "count": 1}

    def _scale(self, verb: str, kind: str, ns: str, name: str, body: Any) -> dict[str, Any]:
        obj = self._existing(kind, ns, name, kind.lower() + "s")
        if verb in ("PATCH", "PUT"):
            self._check_rv(obj, body)
            replicas = ((body or {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int):
                raise ApiStatus(422, "Invalid", "spec.replicas: Required value")
            obj = self._update(kind, ns, name, merge_patch(obj, {"spec": {"replicas": replicas}}))
            self._event(ns, obj, "ScalingReplicaSet", f"Scaled {name} to {replicas}")
        elif verb != "GET":
            raise ApiStatus(405, "MethodNotAllowed", f"{verb} on scale is not supported")
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": obj["metadata"]["resourceVersion"]},
                "spec": {"replicas": obj["spec"]["replicas"]},
                "status": {"replicas": obj["status"].get("replicas", 0)}}

    def _evict(self, ns: str, name: str) -> dict[str, Any]:
        pod = self._existing("Pod", ns, name, "pods")
        labels = pod["metadata"].get("labels") or {}
        for (k, n, _), pdb in self.objects.items():
            if k != "PodDisruptionBudget" or n != ns:
                continue
            sel = _selector_labels(pdb["spec"].get("selector"))
            if not sel or not all(labels.get(a) == b for a, b in sel.items()):
                continue
            healthy = [p for p in self.pods(ns, sel) if self._ready(p)]
            if len(healthy) - (1 if self._ready(pod) else 0) < int(pdb["spec"].get("minAvailable", 0)):
                raise ApiStatus(429, "TooManyRequests",
                                "Cannot evict pod as it would violate the pod's disruption budget.")
        self._delete("Pod", ns, name, {})
        self.log.append((time.monotonic(), "evict", "Pod", ns, name))
        return {"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": name, "namespace": ns}}

    # -- the controller ---------------------------------------------------------------------
    @staticmethod
    def _ready(pod: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))

    def _refresh(self) -> None:
        """Pods whose start-up delay has passed on a node become Ready; workload statuses follow."""
        now = time.monotonic()
        for (kind, _, _), obj in self.objects.items():
            st = obj.get("status", {})
            if kind == "Pod" and not self._ready(obj) and obj["spec"].get("nodeName") \
                    and st.get("_ready_at", 0) <= now:
                st.update(phase="Running", conditions=[{"type": "Ready", "status": "True"}])
        for (kind, _, _), obj in self.objects.items():
            if kind in ("Deployment", "StatefulSet"):
                pods = self._owned(obj)
                ready = sum(1 for p in pods if self._ready(p))
                updated = sum(1 for p in pods if p["metadata"].get("annotations", {}).get("fake/template")
                              == self._template_hash(obj))
                obj["status"] = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                                 "updatedReplicas": updated, "observedGeneration": obj["metadata"]["generation"]}

    def _owned(self, workload: dict[str, Any]) -> list[dict[str, Any]]:
        uid = workload["metadata"]["uid"]
        return [o for (k, _, _), o in sorted(self.objects.items()) if k == "Pod"
                and any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", []))]

    @staticmethod
    def _template_hash(workload: dict[str, Any]) -> str:
        return str(abs(hash(json.dumps(workload["spec"].get("template", {}), sort_keys=True))))

    def _schedulable_nodes(self) -> list[str]:
        return [o["metadata"]["name"] for (k, _, _), o in sorted(self.objects.items())
                if k == "Node" and not o["spec"].get("unschedulable")]

    def _reconcile(self) -> None:
        for (kind, ns, name), wl in list(self.objects.items()):
            if kind not in ("Deployment", "StatefulSet"):
                continue
            current = self._template_hash(wl)
            for pod in self._owned(wl):                  # a changed template replaces every pod
                if pod["metadata"].get("annotations", {}).get("fake/template") != current:
                    del self.objects[("Pod", ns, pod["metadata"]["name"])]
            pods = self._owned(wl)
            want = int(wl["spec"].get("replicas", 0))
            for pod in pods[want:] if len(pods) > want else []:
                del self.objects[("Pod", ns, pod["metadata"]["name"])]
            nodes = self._schedulable_nodes()
            taken = {p["metadata"]["name"] for p in self._owned(wl)}
            for i in range(len(pods), want):
                if kind == "StatefulSet":
                    pod_name = next(f"{name}-{j}" for j in itertools.count() if f"{name}-{j}" not in taken)
                else:
                    pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
                taken.add(pod_name)
                spec = copy.deepcopy(wl["spec"]["template"].get("spec", {}))
                if nodes:
                    spec["nodeName"] = nodes[(len(self._owned(wl)) + i) % len(nodes)]
                self.objects[("Pod", ns, pod_name)] = {
                    "kind": "Pod", "apiVersion": "v1",
                    "metadata": {"name": pod_name, "namespace": ns, "uid": str(uuid.uuid4()),
                                 "resourceVersion": str(next(self._rv)), "creationTimestamp": _now(),
                                 "labels": dict(wl["spec"]["template"].get("metadata", {}).get("labels", {})),
                                 "annotations": {"fake/template": current},
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                                                      "uid": wl["metadata"]["uid"], "controller": True}]},
                    "spec": spec,
                    "status": {"phase": "Pending", "_ready_at": time.monotonic() + self.ready_delay}}
