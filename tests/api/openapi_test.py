#!/usr/bin/python3
"""Conformance test of dbaasd's REST API against docs/api/openapi.yaml.

Usage: openapi_test.py DBAASD_BINARY SPEC_PATH

Starts dbaasd on a fresh data root and a free loopback port, walks a scripted scenario
that calls every operation of the spec (successes and failures), and checks every
response: its status must be documented for the operation, its Content-Type must be one
the response documents, and its body must validate against that response's schema (JSON),
or be Prometheus' text exposition format whose metric families the operation's
description names (text/plain, GET /metrics). Also checks that the request bodies the
server accepts validate against the documented request schema, and that the ones refused
for their shape do not. Exits non-zero on any mismatch.

Needs only the standard library and PyYAML (Debian's /usr/bin/python3 has it). The JSON
Schema subset the spec uses is validated here (no jsonschema dependency).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import yaml

# ----------------------------------------------------------------------------------------
# A validator for the JSON Schema (2020-12) subset the spec uses.

_ANNOTATIONS = {"description", "examples", "title", "default", "summary", "deprecated",
                "readOnly", "writeOnly", "$comment"}
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class SchemaError(Exception):
    pass


class Validator:
    def __init__(self, root):
        self.root = root

    def resolve(self, ref):
        if not ref.startswith("#/"):
            raise SchemaError(f"unsupported $ref {ref!r}")
        node = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            obj = self.resolve(obj["$ref"])
        return obj

    def errors(self, instance, schema, where="$"):
        """The list of errors ("<json path>: <what>") of `instance` against `schema`."""
        if schema is True or schema == {}:
            return []
        if schema is False:
            return [f"{where}: no value is allowed here"]
        out = []
        if "$ref" in schema:
            out += self.errors(instance, self.resolve(schema["$ref"]), where)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(instance, t) for t in types):
                return out + [f"{where}: expected {' or '.join(types)}, got "
                              f"{_json_type(instance)} {_short(instance)}"]
        if "enum" in schema and not any(_same(instance, e) for e in schema["enum"]):
            out.append(f"{where}: {_short(instance)} is not one of {schema['enum']}")
        if "const" in schema and not _same(instance, schema["const"]):
            out.append(f"{where}: {_short(instance)} is not {schema['const']!r}")
        if "anyOf" in schema:
            branches = [self.errors(instance, s, where) for s in schema["anyOf"]]
            if all(branches):
                out.append(f"{where}: matches none of anyOf: " +
                           " | ".join("; ".join(b) for b in branches))
        if "oneOf" in schema:
            branches = [self.errors(instance, s, where) for s in schema["oneOf"]]
            ok = sum(1 for b in branches if not b)
            if ok != 1:
                out.append(f"{where}: matches {ok} of oneOf (exactly 1 wanted): " +
                           " | ".join("; ".join(b) or "ok" for b in branches))
        for s in schema.get("allOf", []):
            out += self.errors(instance, s, where)
        if isinstance(instance, str):
            if "minLength" in schema and len(instance) < schema["minLength"]:
                out.append(f"{where}: {_short(instance)} is shorter than {schema['minLength']}")
            if "maxLength" in schema and len(instance) > schema["maxLength"]:
                out.append(f"{where}: {_short(instance)} is longer than {schema['maxLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], instance):
                out.append(f"{where}: {_short(instance)} does not match {schema['pattern']}")
            if schema.get("format") == "date-time" and not _RFC3339.match(instance):
                out.append(f"{where}: {_short(instance)} is not an RFC 3339 date-time")
        if _is_type(instance, "number"):
            if "minimum" in schema and instance < schema["minimum"]:
                out.append(f"{where}: {instance} is less than {schema['minimum']}")
            if "maximum" in schema and instance > schema["maximum"]:
                out.append(f"{where}: {instance} is more than {schema['maximum']}")
        if isinstance(instance, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in instance:
                    out.append(f"{where}: required property {name!r} is missing")
            if len(instance) < schema.get("minProperties", 0):
                out.append(f"{where}: fewer than {schema['minProperties']} properties")
            for name, value in instance.items():
                if name in props:
                    out += self.errors(value, props[name], f"{where}.{name}")
                elif "additionalProperties" in schema:
                    extra = schema["additionalProperties"]
                    if extra is False:
                        out.append(f"{where}: property {name!r} is not allowed "
                                   f"(additionalProperties: false)")
                    else:
                        out += self.errors(value, extra, f"{where}.{name}")
                if "propertyNames" in schema:
                    out += self.errors(name, schema["propertyNames"], f"{where}.<key {name!r}>")
        if isinstance(instance, list) and "items" in schema:
            for i, item in enumerate(instance):
                out += self.errors(item, schema["items"], f"{where}[{i}]")
        if isinstance(instance, list) and "maxItems" in schema and len(instance) > schema["maxItems"]:
            out.append(f"{where}: more than {schema['maxItems']} items")
        if isinstance(instance, list) and schema.get("uniqueItems"):
            seen = [json.dumps(item, sort_keys=True) for item in instance]
            if len(set(seen)) != len(seen):
                out.append(f"{where}: items repeat")
        return out


_KEYWORDS = {"$ref", "type", "enum", "const", "anyOf", "oneOf", "allOf", "minLength",
             "maxLength", "pattern", "format", "minimum", "maximum", "required", "properties",
             "additionalProperties", "propertyNames", "items", "maxItems", "uniqueItems",
             "minProperties"}


def check_keywords(schema, where):
    """Raises SchemaError if `schema` (recursively) uses a keyword the validator lacks."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema must be an object or a boolean")
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _KEYWORDS:
            raise SchemaError(f"{where}: the validator does not know the keyword {key!r}")
        if key in ("properties",):
            for name, sub in value.items():
                check_keywords(sub, f"{where}.properties.{name}")
        elif key in ("additionalProperties", "propertyNames", "items"):
            check_keywords(value, f"{where}.{key}")
        elif key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(value):
                check_keywords(sub, f"{where}.{key}[{i}]")
        elif key == "type":
            for t in value if isinstance(value, list) else [value]:
                if t not in ("null", "boolean", "integer", "number", "string", "array",
                             "object"):
                    raise SchemaError(f"{where}: unknown type {t!r}")


def _is_type(v, t):
    return {
        "null": v is None,
        "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": isinstance(v, str),
        "array": isinstance(v, list),
        "object": isinstance(v, dict),
    }[t]


def _json_type(v):
    for t in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(v, t):
            return t
    return type(v).__name__


def _same(a, b):
    if _is_type(a, "number") and _is_type(b, "number"):
        return a == b
    return _json_type(a) == _json_type(b) and a == b


def _short(v):
    s = json.dumps(v)
    return s if len(s) <= 80 else s[:77] + "..."


# ----------------------------------------------------------------------------------------
# Prometheus' text exposition format (version 0.0.4), as GET /metrics answers it.

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)"
_SAMPLE = re.compile(  # name{labels} value [timestamp]
    rf"^({_METRIC})(\{{(?:{_LABEL}(?:,{_LABEL})*,?)?\}})? ({_VALUE})(?: -?\d+)?$")
_HELP = re.compile(rf"^# HELP ({_METRIC})(?: .*)?$")
_TYPE = re.compile(rf"^# TYPE ({_METRIC}) (counter|gauge|histogram|summary|untyped)$")


_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def prometheus_errors(text):
    """(errors, {family: type}, {(name, ((label, value), ...)): value}) of a text exposition."""
    errors, families, samples = [], {}, {}
    if text and not text.endswith("\n"):
        errors.append("the last line does not end with a newline")
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("#"):
            m = _TYPE.match(line)
            if m:
                families[m.group(1)] = m.group(2)
            elif line.startswith("# TYPE") or (line.startswith("# HELP") and
                                               not _HELP.match(line)):
                errors.append(f"line {n}: malformed comment {line!r}")
            continue
        m = _SAMPLE.match(line)
        if not m:
            errors.append(f"line {n}: not a sample: {line!r}")
            continue
        name = m.group(1)
        family = next((f for f in (name, re.sub(r"_(bucket|sum|count)$", "", name))
                       if f in families), None)
        if family is None:
            errors.append(f"line {n}: sample {name} has no # TYPE line before it")
        elif family != name and families[family] not in ("histogram", "summary"):
            errors.append(f"line {n}: {name} in the {families[family]} {family}")
        labels = tuple(sorted(_LABEL_PAIR.findall(m.group(2) or "")))
        samples[(name, labels)] = float(m.group(3))
    return errors, families, samples


# ----------------------------------------------------------------------------------------
# The spec: operations, responses, path matching.

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.v = Validator(self.doc)
        if not str(self.doc.get("openapi", "")).startswith("3.1"):
            raise SystemExit(f"{path}: not an OpenAPI 3.1 document")
        self.templates = []  # (regex, template, param names)
        for template in self.doc["paths"]:
            names = re.findall(r"\{([^}]+)\}", template)
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            self.templates.append((re.compile(regex), template, names))
        # Literal paths first, then fewer parameters first.
        self.templates.sort(key=lambda t: len(t[2]))
        self.operations = {(t, m.upper()) for t, item in self.doc["paths"].items()
                           for m in item if m in METHODS}

    def match(self, path):
        """(template, {param: value}) of the spec path matching a request path, or None."""
        for regex, template, names in self.templates:
            m = regex.match(path)
            if m:
                return template, {n: urllib.parse.unquote(g) for n, g in zip(names, m.groups())}
        return None

    def operation(self, template, method):
        return self.doc["paths"][template].get(method.lower())

    def parameters(self, template, method):
        item = self.doc["paths"][template]
        params = {}
        for p in item.get("parameters", []) + self.operation(template, method).get(
                "parameters", []):
            p = self.v.deref(p)
            params[(p["name"], p["in"])] = p
        return params

    def request_schema(self, template, method):
        body = self.operation(template, method).get("requestBody")
        if not body:
            return None
        return self.v.deref(body)["content"]["application/json"]["schema"]

    def response(self, template, method, status):
        responses = self.operation(template, method)["responses"]
        r = responses.get(str(status))
        return self.v.deref(r) if r is not None else None

    def schema(self, name):
        return self.doc["components"]["schemas"][name]


# ----------------------------------------------------------------------------------------
# The daemon.


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.root = tempfile.mkdtemp(prefix="dbaas-openapi-", dir="/tmp")
        self.log_path = self.root + ".log"
        self.port = free_port()
        self.proc = None
        self.token = None
        self.exit_code = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--data-root", self.root, "--listen", f"127.0.0.1:{self.port}",
             "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dbaasd exited with code {self.proc.returncode} at start")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dbaasd did not answer GET /healthz within 30 s")
            time.sleep(0.05)
        with open(os.path.join(self.root, "api-token")) as f:
            self.token = f.read().strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print("warning: dbaasd did not stop within 60 s of SIGTERM; killing it",
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
                self.exit_code = "SIGKILL"
                self._kill_leftover_servers()
        elif self.proc:
            self.exit_code = self.proc.returncode
            self._kill_leftover_servers()

    def _kill_leftover_servers(self):
        # The PostgreSQL servers the daemon started, should it have died without stopping them.
        instances = os.path.join(self.root, "instances")
        for name in os.listdir(instances) if os.path.isdir(instances) else []:
            pidfile = os.path.join(instances, name, "data", "postmaster.pid")
            try:
                with open(pidfile) as f:
                    pid = int(f.readline().strip())
                os.kill(pid, signal.SIGQUIT)
            except (OSError, ValueError):
                pass

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def cleanup(self):
        if getattr(self, "log", None):
            self.log.close()
        # The instances' OS users go with the data root (dbaasd removes a user only with
        # its instance, and the test leaves instances behind).
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "scripts", "remove-instance-users.sh"), self.root],
                       check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        if os.path.exists(self.root):
            print(f"warning: could not remove {self.root} entirely", file=sys.stderr)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# The client: every call is checked against the spec.


class ScenarioError(Exception):
    pass


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None


class Client:
    def __init__(self, spec, daemon):
        self.spec = spec
        self.base = f"http://127.0.0.1:{daemon.port}"
        self.token = daemon.token
        self.requests = 0
        self.exercised = set()
        self.statuses = {}  # (template, METHOD) -> set of statuses seen
        self.failures = []
        self.last_metrics = {}  # (name, labels) -> value, of the last text/plain answer

    def fail(self, what):
        self.failures.append(what)
        print(f"FAIL {what}", file=sys.stderr)

    def call(self, method, path, body=None, *, raw=None, auth=True, token=None, expect=None,
             body_invalid=False, headers=None):
        """Sends a request and checks the response against the spec.

        body: a JSON value to send; raw: bytes to send as they are. expect: the status (or
        statuses) the scenario wants. body_invalid: the body breaks the documented request
        schema (checked), so the server should refuse it.
        """
        url = self.base + path
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {token or self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                resp = Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            resp = Response(e.code, e.headers, e.read())
        label = f"{method} {path}"
        self.check(method, path, body, resp, label, body_invalid)
        if expect is not None:
            wanted = expect if isinstance(expect, (set, tuple, list)) else {expect}
            if resp.status not in wanted:
                raise ScenarioError(
                    f"{label}: status {resp.status}, the scenario expected "
                    f"{' or '.join(map(str, sorted(wanted)))}; body: {resp.raw[:500]!r}")
        return resp

    def check(self, method, path, body, resp, label, body_invalid):
        spec_path = urllib.parse.urlsplit(path).path
        matched = self.spec.match(spec_path)
        if matched is None:
            self.fail(f"{label}: no path of the spec matches {spec_path}")
            return
        template, params = matched
        op = self.spec.operation(template, method)
        route = f"{method} {template}"
        if op is None:
            self.fail(f"{label}: the spec has no operation {route}")
            return
        self.exercised.add((template, method))
        self.statuses.setdefault((template, method), set()).add(resp.status)
        documented = self.spec.response(template, method, resp.status)
        if documented is None:
            self.fail(f"{route} -> {resp.status}: status not documented for this operation "
                      f"(documented: {', '.join(self.spec.operation(template, method)['responses'])})"
                      f"; body: {resp.raw[:300]!r}")
            return
        ctype = resp.headers.get("Content-Type", "")
        media = ctype.split(";")[0].strip().lower()
        content = documented.get("content", {})
        if media not in content:
            self.fail(f"{route} -> {resp.status}: Content-Type is {ctype!r}; the spec "
                      f"documents {', '.join(content) or 'no body'}")
            return
        if media == "text/plain":
            self.check_metrics_text(route, resp, ctype, op)
            return
        if resp.json is None and resp.raw != b"":
            self.fail(f"{route} -> {resp.status}: the body is not JSON: {resp.raw[:300]!r}")
            return
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            self.fail(f"{route} -> {resp.status}: the spec documents no JSON schema")
            return
        errs = self.spec.v.errors(resp.json, schema)
        if errs:
            self.fail(f"{route} -> {resp.status}: the body does not match its schema:\n    " +
                      "\n    ".join(errs[:10]) + f"\n    body: {resp.raw[:600]!r}")
        for name, header in documented.get("headers", {}).items():
            if resp.headers.get(name) is None:
                self.fail(f"{route} -> {resp.status}: documented header {name} is missing")
        # What the server accepts must be what the spec allows, and what breaks the
        # documented shape must be refused.
        req_schema = self.spec.request_schema(template, method)
        ok = 200 <= resp.status < 300
        if ok:
            for (pname, where), p in self.spec.parameters(template, method).items():
                if where == "path":
                    perrs = self.spec.v.errors(params[pname], p["schema"], f"path.{pname}")
                    if perrs:
                        self.fail(f"{route} -> {resp.status}: accepted a path parameter the "
                                  f"spec forbids: {'; '.join(perrs)}")
        if req_schema is not None and isinstance(body, dict):
            rerrs = self.spec.v.errors(body, req_schema, "body")
            if ok and rerrs:
                self.fail(f"{route} -> {resp.status}: the server accepted a body the spec "
                          f"forbids: {'; '.join(rerrs)}")
            if body_invalid and not rerrs:
                self.fail(f"{route}: the spec allows the body {_short(body)}, which the "
                          f"server refuses ({resp.status})")
            if body_invalid and ok:
                self.fail(f"{route}: the server accepted the invalid body {_short(body)}")
        elif body_invalid:
            raise ScenarioError(f"{label}: body_invalid needs a JSON object body")

    def check_metrics_text(self, route, resp, ctype, op):
        """A text/plain answer: Prometheus' text format, each family named in the spec."""
        self.last_metrics = {}
        if "version=0.0.4" not in ctype.replace(" ", ""):
            self.fail(f"{route} -> {resp.status}: Content-Type {ctype!r} lacks version=0.0.4")
        try:
            text = resp.raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail(f"{route} -> {resp.status}: the body is not UTF-8: {e}")
            return
        errs, families, samples = prometheus_errors(text)
        if errs:
            self.fail(f"{route} -> {resp.status}: not the Prometheus text format:\n    " +
                      "\n    ".join(errs[:10]))
        described = op.get("description", "")
        for family in sorted(families):
            if f"`{family}" not in described:
                self.fail(f"{route} -> {resp.status}: the metric {family} is not described "
                          f"in the operation's description")
        self.last_metrics = samples

    def metric(self, name, **labels):
        """A sample of the last GET /metrics, or None."""
        return self.last_metrics.get((name, tuple(sorted(labels.items()))))

    def wait_no_jobs(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.call("GET", "/healthz", auth=False, expect=200).json["jobsInFlight"]:
            if time.monotonic() > deadline:
                raise ScenarioError(f"jobs still in flight after {timeout} s")
            time.sleep(0.1)

    def wait_job(self, job_id, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            r = self.call("GET", f"/jobs/{job_id}", expect=200)
            job = r.json["job"]
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise ScenarioError(f"job {job_id} did not end within {timeout} s: {job}")
            time.sleep(0.05)


def require(cond, what):
    if not cond:
        raise ScenarioError(what)


# ----------------------------------------------------------------------------------------
# The scenario.


def scenario(c, spec, daemon):
    err = lambda r, code: require(r.json["error"]["code"] == code,  # noqa: E731
                                  f"error code {r.json['error']['code']!r}, wanted {code!r}")

    # Health and auth.
    r = c.call("GET", "/healthz", auth=False, expect=200)
    require(r.json["jobsInFlight"] == 0, "jobsInFlight at start")
    r = c.call("GET", "/instances", auth=False, expect=401)
    err(r, "unauthorized")
    r = c.call("GET", "/instances", token="0" * 64, expect=401)
    r = c.call("POST", "/instances", {"name": "x", "type": "postgresql"}, auth=False, expect=401)
    r = c.call("GET", "/jobs", auth=False, expect=401)
    r = c.call("GET", "/instances", expect=200)
    require(r.json["count"] == 0 and r.json["instances"] == [], "no instances at start")

    # Create, synchronously and asynchronously.
    r = c.call("POST", "/instances",
               {"name": "pg1", "type": "postgresql", "size": "1Gi",
                "config": {"work_mem": "8MB", "max_connections": 50, "log_checkpoints": True}},
               expect=201)
    inst = r.json["instance"]
    require(inst["status"] == "running" and inst["connection"] is not None,
            f"pg1 after a synchronous create: {inst}")
    require(inst["config"] == {"work_mem": "8MB", "max_connections": "50",
                               "log_checkpoints": "on"}, f"pg1 config: {inst['config']}")
    require("password" not in inst["connection"], "create shows the password")
    create1_job = r.json["jobId"]

    r = c.call("POST", "/instances?async=true", {"name": "pg2", "type": "postgresql"},
               expect=202)
    require(r.headers.get("Location") == f"/jobs/{r.json['jobId']}", "202 Location header")
    require(r.json["job"]["type"] == "create-instance", "202 job type")
    pg2_job = r.json["jobId"]
    c.call("GET", "/instances/pg2", expect=200)  # creating (connection null) or running
    job = c.wait_job(pg2_job)
    require(job["status"] == "succeeded", f"async create: {job}")
    require(job["result"] == {"instance": "pg2"}, f"async create result: {job}")

    # Create: failures.
    big = b'{"name":"big","type":"postgresql","config":{"x":"' + b"a" * (2 << 20) + b'"}}'
    r = c.call("POST", "/instances", raw=big, expect=413)
    err(r, "payload_too_large")
    r = c.call("POST", "/instances", raw=b'{"name": "pg3", ', expect=400)
    err(r, "invalid_argument")
    c.call("POST", "/instances", raw=b"[1, 2]", expect=400)
    r = c.call("POST", "/instances", {"name": "pg3", "type": "oracle"}, expect=400,
               body_invalid=True)
    require("unknown instance type" in r.json["error"]["message"], "unknown type message")
    r = c.call("POST", "/instances",
               {"name": "my3", "type": "mysql", "config": {"datadir": "/tmp"}}, expect=400)
    require("cannot be set on an instance" in r.json["error"]["message"], "reserved MySQL option message")
    r = c.call("POST", "/instances", {"name": "Bad_Name", "type": "postgresql"}, expect=400,
               body_invalid=True)
    require("hint" in r.json["error"], "invalid name has a hint")
    r = c.call("POST", "/instances", {"name": "pg3", "type": "postgresql", "color": "red"},
               expect=400, body_invalid=True)
    require("unknown field 'color'" in r.json["error"]["message"], "unknown field message")
    c.call("POST", "/instances", {"type": "postgresql"}, expect=400, body_invalid=True)
    c.call("POST", "/instances", {"name": 5, "type": "postgresql"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances", {"name": "pg3", "type": "postgresql", "size": "lots"},
           expect=400, body_invalid=True)
    c.call("POST", "/instances", {"name": "pg3", "type": "postgresql", "config": {"a": [1]}},
           expect=400, body_invalid=True)
    c.call("POST", "/instances", {"name": "pg3", "type": "postgresql", "config": {"Bad": "1"}},
           expect=400, body_invalid=True)
    c.call("POST", "/instances", {"name": "pg3", "type": "postgresql", "config": {"port": 1}},
           expect=400)  # reserved setting: not expressed in the schema
    c.call("POST", "/instances?async=maybe", {"name": "pg3", "type": "postgresql"},
           expect=400)
    r = c.call("POST", "/instances", {"name": "pg1", "type": "postgresql"}, expect=409)
    err(r, "already_exists")
    # A job that fails while the request waits: PostgreSQL refuses the setting, which is
    # bad input (400), reported with the job's id and a hint.
    r = c.call("POST", "/instances",
               {"name": "pgbad", "type": "postgresql", "config": {"shared_buffers": "lots"}},
               expect=400)
    require(r.json["error"].get("hint"), "a failed job's error carries its hint")
    require("jobId" in r.json, "a failed job's error names the job")
    failed_job = r.json["jobId"]
    c.call("GET", "/instances/pgbad", expect=404)

    # List and get, with and without secrets.
    r = c.call("GET", "/instances", expect=200)
    require(r.json["count"] == 2 == len(r.json["instances"]), f"list: {r.json}")
    require(all("password" not in i["connection"] for i in r.json["instances"]),
            "list shows passwords without showSecrets")
    r = c.call("GET", "/instances?showSecrets=true", expect=200)
    require(all(i["connection"]["password"] and i["connection"]["password"] in
                i["connection"]["uri"] for i in r.json["instances"]),
            "list?showSecrets=true lacks the passwords")
    c.call("GET", "/instances?showSecrets=perhaps", expect=400)
    r = c.call("GET", "/instances/pg1", expect=200)
    inst = r.json["instance"]
    require(inst["size"] == "1Gi" and inst["volume"]["sizeBytes"] == 1 << 30
            and inst["volume"]["enforced"] is False, f"the volume: {inst}")
    r = c.call("PATCH", "/instances/pg1", {"size": "2Gi"}, expect=200)
    require(r.json["instance"]["size"] == "2Gi"
            and r.json["instance"]["volume"]["sizeBytes"] == 2 << 30, f"resized: {r.json}")
    r = c.call("PATCH", "/instances/pg1", {"size": "1Ki"}, expect=400)
    require("uses" in r.json["error"]["message"], f"a size below the usage: {r.json}")
    c.call("PATCH", "/instances/pg1", {}, expect=400, body_invalid=True)
    c.call("PATCH", "/instances/pg1", {"size": "lots"}, expect=400, body_invalid=True)
    c.call("PATCH", "/instances/pg1", {"size": "3Gi", "color": "red"}, expect=400,
           body_invalid=True)
    c.call("PATCH", "/instances/nosuch", {"size": "2Gi"}, expect=404)

    # Standbys: made on create and by PATCH, a switchover, the members' status.
    r = c.call("POST", "/instances", {"name": "ha1", "type": "postgresql", "replicas": 1},
               expect=201)
    require([m["name"] for m in r.json["instance"]["members"]] == ["ha1", "ha1-2"],
            f"the members: {r.json}")
    r = c.call("PATCH", "/instances/ha1", {"synchronous": True}, expect=200)
    require(r.json["instance"]["synchronous"] is True and r.json["jobId"], f"synchronous: {r.json}")
    r = c.call("PATCH", "/instances/ha1?async=true", {"replicas": "1"}, expect=202)
    require(c.wait_job(r.json["jobId"])["status"] == "succeeded", "replicate job")
    c.call("PATCH", "/instances/ha1", {"replicas": 6}, expect=400, body_invalid=True)
    c.call("PATCH", "/instances/ha1", {"replicas": 0, "synchronous": True}, expect=400)
    c.call("POST", "/instances/ha1/switchover", {"to": "Bad_Name"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/ha1/switchover", {"to": "ha1-7"}, expect=400)
    c.call("POST", "/instances/ha1/switchover", {"color": "red"}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/switchover", {}, expect=409)
    c.call("POST", "/instances/nosuch/switchover", {}, expect=404)
    r = c.call("POST", "/instances/ha1/switchover", {}, expect=200)
    require(r.json["primary"] == "ha1-2" and r.json["instance"]["primary"] == "ha1-2",
            f"switchover: {r.json}")
    for _ in range(100):
        r = c.call("GET", "/instances/ha1", expect=200)
        members = r.json["instance"]["members"]
        if len(members) == 2 and members[1]["replication"] is not None:
            break
        time.sleep(0.2)
    r = c.call("POST", "/instances/ha1/switchover?async=true", {"to": "ha1"}, expect=202)
    require(c.wait_job(r.json["jobId"])["status"] == "succeeded", "switchover job")
    for _ in range(100):
        r = c.call("GET", "/instances/ha1", expect=200)
        members = r.json["instance"]["members"]
        if (len(members) == 2 and members[0]["name"] == "ha1"
                and members[1]["replication"] is not None):
            break
        time.sleep(0.2)
    require(members[1]["replication"]["syncState"] == "quorum", f"the standby: {members}")
    r = c.call("GET", "/instances/ha1?showSecrets=true", expect=200)
    require("target_session_attrs=read-write" in r.json["instance"]["connection"]["uri"]
            and "uriReadOnly" in r.json["instance"]["connection"], f"the URIs: {r.json}")
    r = c.call("PATCH", "/instances/ha1", {"replicas": 2}, expect=200)
    require([a["source"] for a in r.json["added"]] == ["copied from the primary"],
            f"no backup yet: {r.json}")
    c.call("DELETE", "/instances/ha1", expect=200)
    r = c.call("GET", "/instances/pg1", expect=200)
    conn = r.json["instance"]["connection"]
    require("password" not in conn, "get shows the password without showSecrets")
    r = c.call("GET", "/instances/pg1?showSecrets=true", expect=200)
    password = r.json["instance"]["connection"].get("password")
    require(password and password in r.json["instance"]["connection"]["uri"],
            "get?showSecrets=true lacks the password")
    require(password not in conn["uri"], "the URI has the password without showSecrets")
    r = c.call("GET", "/instances/pg1?showSecrets=false", expect=200)
    require("password" not in r.json["instance"]["connection"], "showSecrets=false")
    c.call("GET", "/instances/pg1?showSecrets=nope", expect=400)
    r = c.call("GET", "/instances/nosuch", expect=404)
    err(r, "not_found")
    c.call("GET", "/instances/Bad_Name", expect=400)

    # Backups.
    r = c.call("POST", "/instances/pg1/backup", {"backupName": "bk1", "retentionDays": 7},
               expect=201)
    b = r.json["backup"]
    require(b["backupName"] == "bk1" and b["status"] == "completed" and b["state"] == "ready"
            and b["retentionDays"] == 7 and b["expiresAt"] and b["namespace"] == "dbaas-pg1"
            and b["pvcName"] == "data-pg1-postgresql-local-0" and b["dataBytes"] > 0,
            f"bk1: {b}")
    r = c.call("POST", "/instances/pg1/backup", raw=b"", expect=201)  # an empty body is {}
    default_backup = r.json["backup"]["backupName"]
    require(r.json["backup"]["retentionDays"] is None and r.json["backup"]["expiresAt"] is None,
            "a backup without retention")
    r = c.call("POST", "/instances/pg1/backup?async=true", {"backupName": "bk2"}, expect=202)
    job = c.wait_job(r.json["jobId"])
    require(job["status"] == "succeeded" and job["type"] == "backup", f"async backup: {job}")
    c.call("POST", "/instances/pg2/backup", {"backupName": "bk-pg2", "retentionDays": None},
           expect=201)
    r = c.call("POST", "/instances/pg1/backup", {"backupName": "bk3", "compress": True},
               expect=400, body_invalid=True)
    require("unknown field" in r.json["error"]["message"], "unknown field message")
    c.call("POST", "/instances/pg1/backup", {"retentionDays": 0}, expect=400, body_invalid=True)
    # The original design's documented requests send numbers as strings ("7").
    r = c.call("POST", "/instances/pg1/backup", {"backupName": "bk-str", "retentionDays": "7"},
               expect=201)
    require(r.json["backup"]["retentionDays"] == 7, "retentionDays given as \"7\" is 7")
    c.call("DELETE", "/instances/pg1/backups/bk-str", expect=200)
    c.call("POST", "/instances/pg1/backup", {"retentionDays": "seven"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/backup", {"backupName": "Bad_Backup"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/backup", raw=b"not json", expect=400)
    c.call("POST", "/instances/pg1/backup?async=2", raw=b"", expect=400)
    r = c.call("POST", "/instances/pg1/backup", {"backupName": "bk1"}, expect=409)
    err(r, "already_exists")
    c.call("POST", "/instances/nosuch/backup", raw=b"", expect=404)
    c.call("POST", "/instances/Bad_Name/backup", raw=b"", expect=400)
    c.call("POST", "/instances/pg1/backup", raw=b"{" + b" " * (2 << 20) + b"}", expect=413)

    r = c.call("GET", "/instances/pg1/backups", expect=200)
    names = [x["backupName"] for x in r.json["backups"]]
    require(r.json["count"] == 3 and set(names) == {"bk1", "bk2", default_backup},
            f"pg1 backups: {names}")
    c.call("GET", "/instances/nosuch/backups", expect=404)
    c.call("GET", "/instances/Bad_Name/backups", expect=400)
    r = c.call("GET", "/instances/pg1/backups/bk1", expect=200)
    require(r.json["backup"]["instanceName"] == "pg1", "get backup")
    c.call("GET", "/instances/pg1/backups/nosuch", expect=404)
    c.call("GET", "/instances/pg2/backups/bk1", expect=404)  # another instance's backup
    c.call("GET", "/instances/pg1/backups/Bad_Backup", expect=400)

    # Restore.
    r = c.call("POST", "/instances/pg1/restore",
               {"backupName": "bk1", "newInstanceName": "pg1-copy"}, expect=201)
    inst = r.json["instance"]
    require(inst["restoredFrom"]["sourceInstance"] == "pg1" and
            inst["restoredFrom"]["backupName"] == "bk1" and inst["status"] == "running",
            f"restored instance: {inst}")
    require(inst["config"]["work_mem"] == "8MB", "the restore keeps the backup's config")
    r = c.call("POST", "/instances/pg1/restore?async=true",
               {"backupName": "bk2", "newInstanceName": "pg1-copy2", "size": "10Gi"},
               expect=202)
    restore_job = r.json["jobId"]
    c.call("POST", "/instances/pg1/restore", {"backupName": "bk1"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/restore",
           {"backupName": "bk1", "newInstanceName": "pg4", "force": True}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/restore",
           {"backupName": "bk1", "newInstanceName": "Bad_Name"}, expect=400, body_invalid=True)
    r = c.call("POST", "/instances/pg1/restore",
               {"backupName": "bk1", "newInstanceName": "pg4", "size": "1Ki"}, expect=400)
    require("smaller" in r.json["error"]["message"], "size too small message")
    c.call("POST", "/instances/pg1/restore", raw=b"{oops", expect=400)
    c.call("POST", "/instances/pg1/restore?async=maybe",
           {"backupName": "bk1", "newInstanceName": "pg4"}, expect=400)
    r = c.call("POST", "/instances/pg1/restore",
               {"backupName": "bk1", "newInstanceName": "pg2"}, expect=409)
    err(r, "already_exists")
    c.call("POST", "/instances/pg1/restore",
           {"backupName": "nosuch", "newInstanceName": "pg4"}, expect=404)
    c.call("POST", "/instances/pg2/restore",
           {"backupName": "bk1", "newInstanceName": "pg4"}, expect=404)
    c.call("POST", "/instances/pg1/restore", raw=b'{"x":"' + b"y" * (2 << 20) + b'"}',
           expect=413)
    job = c.wait_job(restore_job)
    require(job["status"] == "succeeded" and job["type"] == "restore", f"async restore: {job}")

    # Point-in-time recovery.
    r = c.call("POST", "/instances/pg1/restore-points", {"name": "rp1"}, expect=201)
    require(r.json["restorePoint"]["name"] == "rp1", "restore point")
    c.call("POST", "/instances/pg1/restore-points", {"name": "rp1"}, expect=409)
    c.call("POST", "/instances/pg1/restore-points", {"name": "bad name!"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/restore-points", {}, expect=400, body_invalid=True)
    c.call("POST", "/instances/nosuch/restore-points", {"name": "rp1"}, expect=404)
    r = c.call("GET", "/instances/pg1/restore-points", expect=200)
    require(r.json["count"] == 1, "restore points listed")
    c.call("GET", "/instances/nosuch/restore-points", expect=404)
    r = c.call("GET", "/instances/pg1/recovery-window", expect=200)
    window = r.json["recoveryWindow"]
    require(window["earliestTime"] <= window["latestTime"], f"window: {window}")
    c.call("GET", "/instances/pg1-copy/recovery-window", expect=409)  # no backup of its own
    c.call("GET", "/instances/nosuch/recovery-window", expect=404)
    c.call("GET", "/instances/Bad_Name/recovery-window", expect=400)
    r = c.call("POST", "/instances/pg1/restore",
               {"newInstanceName": "pg1-pitr", "targetName": "rp1"}, expect=201)
    require(r.json["instance"]["restoredFrom"]["target"]["kind"] == "name", "pitr restore")
    c.call("POST", "/instances/pg1/restore",
           {"newInstanceName": "pg5", "targetTime": "2001-01-01T00:00:00Z"}, expect=400)
    c.call("POST", "/instances/pg1/restore", {"newInstanceName": "pg5", "target": "soon"},
           expect=400, body_invalid=True)

    # Branches (ext4 here: made through the repository, method copy).
    r = c.call("POST", "/instances/pg1/branch", {"newInstanceName": "pg1-br"}, expect=201)
    require(r.json["method"] in ("copy", "clone") and
            r.json["branchedFrom"]["instance"] == "pg1" and
            r.json["branchedFrom"]["backupName"] is None and
            r.json["instance"]["branchedFrom"]["method"] == r.json["method"] and
            "restoredFrom" not in r.json["instance"], f"branch: {r.json}")
    r = c.call("POST", "/instances/pg1/branch?async=true",
               {"newInstanceName": "pg1-br2", "backupName": "bk1",
                "config": {"work_mem": "16MB"}}, expect=202)
    branch_job = r.json["jobId"]
    c.call("POST", "/instances/pg1/branch", {}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/branch", {"newInstanceName": "pg4", "force": True},
           expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/branch", {"newInstanceName": "Bad_Name"}, expect=400,
           body_invalid=True)
    c.call("POST", "/instances/pg1/branch", raw=b"{oops", expect=400)
    r = c.call("POST", "/instances/pg1/branch", {"newInstanceName": "pg2"}, expect=409)
    err(r, "already_exists")
    c.call("POST", "/instances/nosuch/branch", {"newInstanceName": "pg4"}, expect=404)
    c.call("POST", "/instances/pg1/branch", {"newInstanceName": "pg4", "backupName": "nosuch"},
           expect=404)
    job = c.wait_job(branch_job)
    require(job["status"] == "succeeded" and job["type"] == "branch", f"async branch: {job}")
    r = c.call("GET", "/instances/pg1-br2", expect=200)
    require(r.json["instance"]["branchedFrom"]["backupName"] == "bk1" and
            r.json["instance"]["config"]["work_mem"] == "16MB", f"branch at bk1: {r.json}")
    r = c.call("GET", "/instances/pg1/branches", expect=200)
    require(sorted(b["name"] for b in r.json["branches"]) == ["pg1-br", "pg1-br2"],
            f"branches: {r.json}")
    c.call("GET", "/instances/nosuch/branches", expect=404)
    c.call("GET", "/instances/Bad_Name/branches", expect=400)
    r = c.call("POST", "/instances/pg1-br/reset", expect=200)
    require(r.json["branchedFrom"]["instance"] == "pg1", f"reset: {r.json}")
    r = c.call("POST", "/instances/pg1-br/reset?async=true", raw=b"{}", expect=202)
    require(c.wait_job(r.json["jobId"])["status"] == "succeeded", "async reset")
    r = c.call("POST", "/instances/pg1/reset", expect=409)
    err(r, "failed_precondition")
    c.call("POST", "/instances/nosuch/reset", expect=404)
    c.call("POST", "/instances/pg1-br/reset", {"x": 1}, expect=400, body_invalid=True)
    c.call("DELETE", "/instances/pg1-br", expect=200)
    c.call("DELETE", "/instances/pg1-br2", expect=200)

    # Jobs.
    r = c.call("GET", "/jobs", expect=200)
    jobs = {j["id"]: j for j in r.json["jobs"]}
    require(r.json["count"] == len(r.json["jobs"]), "jobs count")
    require({create1_job, pg2_job, failed_job, restore_job} <= set(jobs), "jobs listed")
    require(jobs[failed_job]["status"] == "failed" and "error" in jobs[failed_job]
            and "result" not in jobs[failed_job], f"the failed job: {jobs[failed_job]}")
    r = c.call("GET", f"/jobs/{failed_job}", expect=200)
    require(r.json["job"]["error"]["code"] == "invalid_argument", f"failed job: {r.json['job']}")

    # Alerts: warnings and errors, newest first; since= gives only newer ones.
    r = c.call("GET", "/alerts", expect=200)
    alerts = r.json["alerts"]
    require(r.json["count"] == len(alerts) and alerts, "alerts listed")
    require(any(a["jobId"] == failed_job and a["level"] == "error" for a in alerts),
            f"the failed job is an alert: {alerts}")
    ids = [a["id"] for a in alerts]
    require(ids == sorted(ids, reverse=True), "alerts newest first")
    r = c.call("GET", f"/alerts?since={ids[0]}", expect=200)
    require(r.json["count"] == 0, "no alert after the newest")
    r = c.call("GET", f"/alerts?since={ids[0] - 1}&limit=1", expect=200)
    require([a["id"] for a in r.json["alerts"]] == [ids[0]], "since and limit")
    for bad in ("since=-1", "since=abc", "limit=0", "limit=1001"):
        c.call("GET", f"/alerts?{bad}", expect=400)
    c.call("GET", "/alerts", auth=False, expect=401)

    # The local repository: sizes now, and their history ending with them.
    r = c.call("GET", "/repository", expect=200)
    repo = r.json["repository"]
    require(repo["logicalBytes"] > 0 and repo["storedBytes"] > 0, f"repository sizes: {repo}")
    require(repo["savedBytes"] == max(0, repo["logicalBytes"] - repo["storedBytes"]), "saved")
    last = repo["history"][-1]
    require((last["logicalBytes"], last["storedBytes"]) ==
            (repo["logicalBytes"], repo["storedBytes"]), f"history ends now: {repo['history']}")
    times = [h["at"] for h in repo["history"]]
    require(times == sorted(times), "history oldest first")
    c.call("GET", "/repository", auth=False, expect=401)
    r = c.call("GET", f"/jobs/{create1_job}", expect=200)
    require(r.json["job"]["status"] == "succeeded" and r.json["job"]["progress"] == 1,
            "finished job")
    c.call("GET", "/jobs/0123456789abcdef", expect=404)
    c.call("GET", "/jobs/not-a-job", expect=400)
    c.call("GET", "/jobs/0123456789ABCDEF", expect=400)

    # Schedules.
    r = c.call("POST", "/instances/pg1/schedules",
               {"cron": "0 3 * * *", "timeZone": "Europe/Berlin", "retentionDays": 30,
                "keepDaily": 7, "keepWeekly": 4, "keepMonthly": 12, "verify": True},
               expect=201)
    s1 = r.json["schedule"]
    require(s1["instanceName"] == "pg1" and s1["cron"] == "0 3 * * *" and
            s1["timeZone"] == "Europe/Berlin" and s1["retentionDays"] == 30 and
            (s1["keepDaily"], s1["keepWeekly"], s1["keepMonthly"]) == (7, 4, 12) and
            s1["verify"] is True and s1["lastRunAt"] is None and s1["lastStatus"] is None,
            f"schedule: {s1}")
    # 03:00 in Berlin is 01:00 or 02:00 UTC.
    require(s1["nextRunAt"] and s1["nextRunAt"][11:16] in ("01:00", "02:00"),
            f"nextRunAt in the schedule's time zone: {s1['nextRunAt']}")
    r = c.call("POST", "/instances/pg1/schedules", {"cron": "@daily"}, expect=201)
    s2 = r.json["schedule"]
    require(s2["timeZone"] == "UTC" and s2["retentionDays"] is None and s2["verify"] is False
            and (s2["keepDaily"], s2["keepWeekly"], s2["keepMonthly"]) == (0, 0, 0)
            and s2["repository"] is None,
            f"a schedule's defaults: {s2}")
    r = c.call("POST", "/instances/pg1/schedules", {"cron": "@weekly", "repository": "local"},
               expect=201)
    require(r.json["schedule"]["repository"] == "local", f"repository: {r.json['schedule']}")
    c.call("DELETE", f"/instances/pg1/schedules/{r.json['schedule']['id']}", expect=200)
    # A VolumeSnapshot is the Kubernetes runtime's: refused here, whatever the schema allows.
    r = c.call("POST", "/instances/pg1/schedules",
               {"cron": "@daily", "repository": "volumeSnapshot"}, expect=400)
    err(r, "invalid_argument")
    r = c.call("POST", "/instances/pg1/schedules",  # null counts as absent
               {"cron": "0 0 29 2 *", "timeZone": None, "retentionDays": None,
                "keepDaily": None, "keepWeekly": None, "keepMonthly": None, "verify": None},
               expect=201)
    s3 = r.json["schedule"]
    for bad, why in [({"cron": "61 * * * *"}, "minute"), ({"cron": "* * * *"}, ""),
                     ({"cron": "0 0 30 2 *"}, "never fires"), ({"cron": "@fortnightly"}, ""),
                     ({"cron": "0 3 * * *", "timeZone": "Mars/Olympus"}, "")]:
        r = c.call("POST", "/instances/pg1/schedules", bad, expect=400)  # not in the schema
        err(r, "invalid_argument")
        require(why in r.json["error"]["message"], f"{bad}: {r.json['error']}")
    for bad in [{"cron": "0 3 * * *", "retentionDays": 0},
                {"cron": "0 3 * * *", "retentionDays": 36501},
                {"cron": "0 3 * * *", "keepDaily": -1},
                {"cron": "0 3 * * *", "keepMonthly": 10001},
                {"cron": "0 3 * * *", "keepWeekly": 1.5},
                {"cron": "0 3 * * *", "verify": "yes"},
                {"cron": "0 3 * * *", "every": "day"},
                {"cron": "0 3 * * *", "repository": "s3"},
                {"cron": 5}, {"cron": ""}, {"timeZone": "UTC"}, {}]:
        r = c.call("POST", "/instances/pg1/schedules", bad, expect=400, body_invalid=True)
        err(r, "invalid_argument")
    c.call("POST", "/instances/pg1/schedules", raw=b"0 3 * * *", expect=400)
    c.call("POST", "/instances/pg1/schedules", raw=b'{"cron":"' + b"*" * (2 << 20) + b'"}',
           expect=413)
    r = c.call("POST", "/instances/nosuch/schedules", {"cron": "0 3 * * *"}, expect=404)
    err(r, "not_found")
    c.call("POST", "/instances/Bad_Name/schedules", {"cron": "0 3 * * *"}, expect=400)
    r = c.call("GET", "/instances/pg1/schedules", expect=200)
    require(r.json["count"] == 3 and [x["id"] for x in r.json["schedules"]] ==
            [s1["id"], s2["id"], s3["id"]], f"pg1 schedules (oldest first): {r.json}")
    r = c.call("GET", "/instances/pg2/schedules", expect=200)
    require(r.json["count"] == 0 and r.json["schedules"] == [], "pg2 has no schedules")
    c.call("GET", "/instances/nosuch/schedules", expect=404)
    c.call("GET", "/instances/Bad_Name/schedules", expect=400)
    c.call("DELETE", f"/instances/pg2/schedules/{s1['id']}", expect=404)  # another's
    r = c.call("DELETE", f"/instances/pg1/schedules/{s1['id']}", expect=200)
    r = c.call("DELETE", f"/instances/pg1/schedules/{s1['id']}", expect=404)
    err(r, "not_found")
    c.call("DELETE", "/instances/pg1/schedules/s00000000", expect=404)
    c.call("DELETE", "/instances/pg1/schedules/not-an-id", expect=404)
    c.call("DELETE", "/instances/Bad_Name/schedules/s00000000", expect=400)
    r = c.call("GET", "/instances/pg1/schedules", expect=200)
    require(r.json["count"] == 2, f"a deleted schedule is not listed: {r.json}")
    for sid in (s2["id"], s3["id"]):
        c.call("DELETE", f"/instances/pg1/schedules/{sid}", expect=200)

    # A schedule that fires (every second, the six-field form) makes a backup that says so.
    r = c.call("POST", "/instances/pg1-copy/schedules",
               {"cron": "* * * * * *", "retentionDays": 1}, expect=201)
    fast = r.json["schedule"]["id"]
    deadline = time.monotonic() + 30
    while True:
        sched = c.call("GET", "/instances/pg1-copy/schedules", expect=200).json["schedules"][0]
        if sched["lastStatus"] == "succeeded":
            break
        if time.monotonic() > deadline:
            raise ScenarioError(f"the every-second schedule made no backup in 30 s: {sched}")
        time.sleep(0.2)
    require(sched["lastRunAt"] and sched["lastMessage"], f"a schedule that ran: {sched}")
    c.call("DELETE", f"/instances/pg1-copy/schedules/{fast}", expect=200)
    c.wait_no_jobs()
    r = c.call("GET", "/instances/pg1-copy/backups", expect=200)
    scheduled = [x for x in r.json["backups"] if x["schedule"] == fast]
    require(scheduled and all(x["retentionDays"] == 1 and x["expiresAt"] for x in scheduled),
            f"the scheduled backups: {r.json['backups']}")
    scheduled_backup = scheduled[0]["backupName"]
    r = c.call("GET", "/jobs", expect=200)
    require(any(j["type"] == "backup" and j["request"].get("schedule") == fast
                for j in r.json["jobs"]), "a scheduled backup's job names its schedule")
    # At most 16 schedules an instance.
    for i in range(16):
        c.call("POST", "/instances/pg1-copy/schedules", {"cron": f"{i} 0 29 2 *"}, expect=201)
    r = c.call("POST", "/instances/pg1-copy/schedules", {"cron": "0 0 29 2 *"}, expect=409)
    err(r, "failed_precondition")
    r = c.call("GET", "/instances/pg1-copy/schedules", expect=200)
    require(r.json["count"] == 16, f"16 schedules: {r.json['count']}")

    # Pinning.
    r = c.call("PATCH", "/instances/pg1/backups/bk1", {"pinned": True}, expect=200)
    require(r.json["backup"]["pinned"] is True and r.json["backup"]["backupName"] == "bk1",
            f"pinned: {r.json}")
    r = c.call("GET", "/instances/pg1/backups/bk1", expect=200)
    require(r.json["backup"]["pinned"] is True, "pinned after a GET")
    r = c.call("PATCH", "/instances/pg1/backups/bk1", {"pinned": False}, expect=200)
    require(r.json["backup"]["pinned"] is False, f"unpinned: {r.json}")
    for bad in [{}, {"pinned": "yes"}, {"pinned": 1}, {"pinned": True, "note": "keep"}]:
        r = c.call("PATCH", "/instances/pg1/backups/bk1", bad, expect=400, body_invalid=True)
        err(r, "invalid_argument")
    c.call("PATCH", "/instances/pg1/backups/bk1", raw=b"pinned", expect=400)
    c.call("PATCH", "/instances/pg1/backups/bk1", raw=b'{"pinned":"' + b"y" * (2 << 20) + b'"}',
           expect=413)
    c.call("PATCH", "/instances/pg1/backups/nosuch", {"pinned": True}, expect=404)
    c.call("PATCH", "/instances/pg2/backups/bk1", {"pinned": True}, expect=404)
    c.call("PATCH", "/instances/nosuch/backups/bk1", {"pinned": True}, expect=404)
    c.call("PATCH", "/instances/pg1/backups/Bad_Backup", {"pinned": True}, expect=400)

    # Restore drills: synchronously, then asynchronously on the scheduled backup.
    r = c.call("POST", "/instances/pg1/backups/bk1/verify", {}, expect=200)
    drill = r.json["drill"]
    require(r.json["passed"] is True and r.json["message"] == "Restore drill passed" and
            drill["status"] == "passed" and drill["problems"] == [] and
            drill["checker"] == "pg_amcheck" and drill["rtoSeconds"] > 0 and
            drill["databases"] >= 1 and drill["job"] == r.json["jobId"],
            f"the drill of bk1: {r.json}")
    require(r.json["backup"]["drill"] == drill, "the backup carries its drill")
    r = c.call("GET", f"/jobs/{r.json['jobId']}", expect=200)
    job = r.json["job"]
    require(job["type"] == "verify" and job["request"] == {"instance": "pg1", "backupName": "bk1"}
            and job["result"]["passed"] is True, f"the verify job: {job}")
    r = c.call("GET", "/instances/pg1/backups/bk1", expect=200)
    require(r.json["backup"]["drill"]["status"] == "passed", "the drill is kept on the backup")
    r = c.call("POST", f"/instances/pg1-copy/backups/{scheduled_backup}/verify?async=true",
               raw=b"", expect=202)
    require(r.json["job"]["type"] == "verify" and r.json["message"] == "verify started",
            f"async verify: {r.json}")
    job = c.wait_job(r.json["jobId"])
    require(job["status"] == "succeeded" and job["result"]["passed"] is True,
            f"async verify: {job}")
    r = c.call("GET", f"/instances/pg1-copy/backups/{scheduled_backup}", expect=200)
    require(r.json["backup"]["drill"]["job"] == job["id"] and
            r.json["backup"]["schedule"] == fast, f"the drilled scheduled backup: {r.json}")
    # Copies: this daemon has no remote repositories (tests/api/operations_test.cc has one).
    r = c.call("POST", "/instances/pg1/backups/bk1/copy", {"to": "offsite"}, expect=400)
    require("not configured" in r.json["error"]["message"], "copy to an unconfigured repository")
    c.call("POST", "/instances/pg1/backups/bk1/copy", {}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/backups/bk1/copy", {"to": "Bad Name"}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/backup", {"repositories": ["offsite"]}, expect=400)
    # Remote repositories: none configured here (tests/api/disaster_recovery_test.cc has two).
    r = c.call("GET", "/repositories", expect=200)
    require(r.json["count"] == 0 and r.json["repositories"] == [], f"no repositories: {r.json}")
    r = c.call("GET", "/repositories/offsite/backups", expect=400)
    require("not configured" in r.json["error"]["message"], "an unconfigured repository's backups")
    c.call("GET", "/repositories/Bad_Name/backups", expect=400)
    c.call("POST", "/repositories/offsite/import", {"instance": "pg1"}, expect=400)
    c.call("POST", "/repositories/offsite/import", {"backups": "bk1"}, expect=400, body_invalid=True)
    c.call("POST", "/repositories/offsite/import", {"what": 1}, expect=400, body_invalid=True)
    c.call("POST", "/repositories/offsite/lease", {"takeOver": True}, expect=400)
    c.call("POST", "/repositories/offsite/lease", {"takeOver": False}, expect=400, body_invalid=True)
    c.call("POST", "/repositories/offsite/lease", {}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/backup", {"repositories": "offsite"}, expect=400, body_invalid=True)
    c.call("POST", "/instances/pg1/schedules", {"cron": "0 3 * * *", "repositories": ["offsite"]},
           expect=400)
    c.call("POST", "/instances/pg1/restore",
           {"backupName": "bk1", "newInstanceName": "from-bucket", "repository": "offsite"}, expect=400)
    c.call("POST", "/instances/pg1/schedules", {"cron": "0 3 * * *", "repositories": ["a", "a"]},
           expect=400, body_invalid=True)
    r = c.call("POST", "/instances/pg1/backups/nosuch/verify", {}, expect=404)
    err(r, "not_found")
    c.call("POST", "/instances/pg2/backups/bk1/verify", {}, expect=404)
    c.call("POST", "/instances/nosuch/backups/bk1/verify", raw=b"", expect=404)
    c.call("POST", "/instances/pg1/backups/Bad_Backup/verify", raw=b"", expect=400)
    r = c.call("POST", "/instances/pg1/backups/bk1/verify", {"deep": True}, expect=400,
               body_invalid=True)
    require("unknown field" in r.json["error"]["message"], "verify's unknown field message")
    c.call("POST", "/instances/pg1/backups/bk1/verify", raw=b"[]", expect=400)
    c.call("POST", "/instances/pg1/backups/bk1/verify?async=maybe", raw=b"", expect=400)
    c.call("POST", "/instances/pg1/backups/bk1/verify", raw=b"{" + b" " * (2 << 20) + b"}",
           expect=413)
    # A backup being made can be neither drilled nor pinned yet.
    r = c.call("POST", "/instances/pg1-copy/backup?async=true", {"backupName": "bk-busy"},
               expect=202)
    busy_job = r.json["jobId"]
    r = c.call("POST", "/instances/pg1-copy/backups/bk-busy/verify?async=true", raw=b"",
               expect={409, 202})  # 202: the backup was quicker
    if r.status == 409:
        err(r, "failed_precondition")
    else:
        c.wait_job(r.json["jobId"])
    c.call("PATCH", "/instances/pg1-copy/backups/bk-busy", {"pinned": True}, expect={409, 200})
    require(c.wait_job(busy_job)["status"] == "succeeded", "the backup bk-busy")

    # Metrics.
    r = c.call("GET", "/metrics", auth=False, expect=401)
    err(r, "unauthorized")
    c.call("GET", "/metrics", expect=200)
    m = c.metric
    for name, labels, want in [
            ("dbaas_backups_total", {"instance": "pg1", "result": "success"}, 3),
            ("dbaas_backups_total", {"instance": "pg1-copy", "result": "success"}, 2),
            ("dbaas_backup_duration_seconds_count", {"instance": "pg1"}, 3),
            ("dbaas_restores_total", {"instance": "pg1", "result": "success"}, 3),
            ("dbaas_restore_duration_seconds_count", {"instance": "pg1"}, 3),
            ("dbaas_drills_total", {"instance": "pg1", "result": "success"}, 1),
            ("dbaas_drill_rto_seconds_count", {"instance": "pg1-copy"}, 1),
            ("dbaas_backups", {"instance": "pg1"}, 3),
            ("dbaas_schedules", {}, 16)]:
        require(m(name, **labels) is not None and m(name, **labels) >= want,
                f"metric {name}{labels} = {m(name, **labels)}, wanted at least {want}")
    require(m("dbaas_schedules") == 16 and m("dbaas_jobs_in_flight") == 0 and
            m("dbaas_backups_drill_failed", instance="pg1") == 0 and
            m("dbaas_last_drill_rto_seconds", instance="pg1") > 0 and
            m("dbaas_last_good_backup_timestamp_seconds", instance="pg1") > 1.7e9 and
            m("dbaas_backup_size_bytes", instance="pg1") > 0 and
            m("dbaas_repository_logical_bytes") >= m("dbaas_repository_stored_bytes") > 0 and
            m("dbaas_data_root_size_bytes") >= m("dbaas_data_root_used_bytes") > 0,
            f"metrics: {sorted(c.last_metrics.items())[:60]}")

    # Delete backups.
    r = c.call("DELETE", "/instances/pg1/backups/bk2", expect=200)
    c.call("DELETE", "/instances/pg1/backups/bk2", expect=404)
    c.call("DELETE", "/instances/pg2/backups/bk1", expect=404)
    c.call("DELETE", "/instances/pg1/backups/Bad_Backup", expect=400)
    c.call("DELETE", "/instances/nosuch/backups/bk1", expect=404)
    c.call("GET", "/instances/pg1/backups/bk2", expect=404)

    # Delete instances.
    c.call("DELETE", "/instances/pg1-pitr", expect=200)
    r = c.call("DELETE", "/instances/pg1-copy", expect=200)
    require(r.json["backupsDeleted"] == 0, "delete without backups")
    c.call("GET", "/instances/pg1-copy/schedules", expect=404)  # gone with the instance
    r = c.call("DELETE", "/instances/pg1-copy2?async=true", expect=202)
    require(r.json["job"]["type"] == "delete-instance", "async delete job")
    r2 = c.call("DELETE", "/instances/pg1-copy2", expect={409, 404})  # deleting, or gone
    if r2.status == 409:
        err(r2, "failed_precondition")
    job = c.wait_job(r.json["jobId"])
    require(job["status"] == "succeeded", f"async delete: {job}")
    c.call("GET", "/instances/pg1-copy2", expect=404)
    c.call("DELETE", "/instances/pg2?deleteBackups=maybe", expect=400)
    c.call("DELETE", "/instances/pg2?async=maybe", expect=400)
    r = c.call("DELETE", "/instances/pg2", expect=200)  # its backup outlives it
    require(r.json["backupsDeleted"] == 0, "pg2 delete")
    r = c.call("GET", "/instances/pg2/backups", expect=200)
    require([x["backupName"] for x in r.json["backups"]] == ["bk-pg2"],
            "backups outlive their instance")
    c.call("GET", "/instances/pg2/backups/bk-pg2", expect=200)
    c.call("POST", "/instances/pg2/backup", raw=b"", expect=404)
    c.call("DELETE", "/instances/pg2/backups/bk-pg2", expect=200)
    c.call("GET", "/instances/pg2/backups", expect=404)
    r = c.call("DELETE", "/instances/pg1?deleteBackups=true", expect=200)
    require(r.json["backupsDeleted"] == 2, f"pg1 delete with backups: {r.json}")
    c.call("GET", "/instances/pg1/backups", expect=404)
    c.call("DELETE", "/instances/pg1", expect=404)
    c.call("DELETE", "/instances/Bad_Name", expect=400)
    r = c.call("GET", "/instances", expect=200)
    require(r.json["count"] == 0, f"instances left: {r.json}")
    r = c.call("GET", "/healthz", auth=False, expect=200)
    require(r.json["jobsInFlight"] == 0, "jobsInFlight at the end")


def outside_the_spec(c, spec, daemon):
    """Answers to requests no operation describes must still have the error shape."""
    error = spec.schema("Error")

    def c_raw(method, path, data=None):
        req = urllib.request.Request(c.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {c.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    checks = [  # (label, request, wanted status)
        ("GET /nosuch", lambda: c_raw("GET", "/nosuch"), 404),
        ("PUT /instances", lambda: c_raw("PUT", "/instances", b"{}"), 404),
        ("PUT /instances/pg1", lambda: c_raw("PUT", "/instances/pg1", b"{}"), 404),
        ("POST /healthz", lambda: c_raw("POST", "/healthz", b""), 404),
    ]
    for label, fn, want in checks:
        status, body = fn()
        c.requests += 1
        errs = spec.v.errors(json.loads(body) if body else None, error)
        if errs or status != want:
            c.fail(f"{label} (outside the spec) -> {status} (wanted {want}): "
                   f"{'; '.join(errs)} body={body[:200]!r}")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary, spec_path = argv[1], argv[2]
    spec = Spec(spec_path)
    # Every schema the spec holds must be one the validator understands.
    try:
        for name, schema in spec.doc["components"]["schemas"].items():
            check_keywords(schema, f"components.schemas.{name}")
        for name, p in spec.doc["components"].get("parameters", {}).items():
            check_keywords(p["schema"], f"components.parameters.{name}.schema")
        for template, item in spec.doc["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                for status, r in op["responses"].items():
                    for media, c in spec.v.deref(r).get("content", {}).items():
                        if "schema" not in c:
                            raise SchemaError(f"{method.upper()} {template} {status} {media}: "
                                              f"no schema")
                        check_keywords(c["schema"], f"{method.upper()} {template} {status}")
    except SchemaError as e:
        print(f"FAIL the spec: {e}", file=sys.stderr)
        return 1
    started = time.monotonic()
    daemon = Daemon(binary)
    c = None
    problem = None
    try:
        daemon.start()
        c = Client(spec, daemon)
        scenario(c, spec, daemon)
        outside_the_spec(c, spec, daemon)
    except ScenarioError as e:
        problem = f"scenario: {e}"
    except Exception as e:  # noqa: BLE001 - anything else is a failure too
        problem = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    finally:
        daemon.stop()
        tail = daemon.log_tail()
        daemon.cleanup()

    failures = list(c.failures) if c else []
    if problem:
        failures.append(problem)
    if daemon.exit_code not in (0, None):
        failures.append(f"dbaasd exited with {daemon.exit_code} after SIGTERM")
    if c and not problem:
        missing = sorted(spec.operations - c.exercised)
        for template, method in missing:
            failures.append(f"operation {method} {template} was never exercised")
    elapsed = time.monotonic() - started
    if failures:
        print(f"\n{len(failures)} problem(s):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        if tail:
            print(f"\ndbaasd log (last lines):\n{tail}", file=sys.stderr)
        return 1
    for (template, method) in sorted(c.statuses):
        statuses = " ".join(map(str, sorted(c.statuses[(template, method)])))
        print(f"  {method:6} {template:42} {statuses}")
    print(f"{c.requests} requests, {len(c.exercised)} operations, all conform "
          f"({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
