#!/usr/bin/env python3
"""Cloud simulator: an HTTP proxy between deployer and LocalStack that plays the parts of AWS the
emulator does not play (throttling, 5xx, dropped connections, slow answers, lost answers to committed
changes, a killed or hung client, resources that take time to become ready, a builder that powers
itself off, unhealthy ELB instances, RunInstances ClientToken idempotency). Deterministic from a seed.

    python tests/simulator/simulator.py --port 0 --upstream http://127.0.0.1:4566 [--verbose]

Control API (JSON, same port, never forwarded): GET /_sim/health, POST /_sim/config, GET /_sim/stats.
See README.md in this directory. Standard library only.
"""
import argparse
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam  # noqa: E402  (beside this file)

VERBOSE = False

# Headers that belong to one connection, not to the message: never forwarded either way.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect"}
READ_PREFIXES = ("Describe", "List", "Get")
FAULT_KINDS = ("throttle", "500", "503", "reset", "slow", "after_commit")
# What can be held in a transitional state (config "holds"), plus "builder": a bake builder between
# its power-off and the first answer that shows it stopped (readiness only, never held).
HOLD_KINDS = ("db_instance", "replication_group", "image", "instance", "group_instance", "builder")
JSON_SERVICES = {"secretsmanager", "ssm", "kms", "logs"}
# Signing names that differ from the IAM action prefix.
IAM_PREFIXES = {"monitoring": "cloudwatch", "tagging": "tag"}
# Smithy RPC v2 CBOR (CloudWatch's protocol in the Rust SDK): POST /service/<service>/operation/<op>.
RPC_V2_PATH = re.compile(r"^/service/[^/]+/operation/([A-Za-z]+)$")
XMLNS = {  # namespaces of the query-protocol services' error documents
    "rds": "http://rds.amazonaws.com/doc/2014-10-31/",
    "elasticache": "http://elasticache.amazonaws.com/doc/2015-02-02/",
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/",
    "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
# kind -> (status, code, message) per protocol. Every code here is one the Rust SDK retries:
# Throttling/ThrottlingException/RequestLimitExceeded are in aws-runtime's THROTTLING_ERRORS, and
# 500/503 are in aws-smithy-runtime's TRANSIENT_ERROR_STATUS_CODES (botocore: the same two lists).
ERRORS = {
    "query": {"throttle": (400, "Throttling", "Rate exceeded"),
              "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
              "503": (503, "ServiceUnavailable", "Service is unavailable. Please try again.")},
    "ec2": {"throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
            "500": (500, "InternalError", "An internal error has occurred."),
            "503": (503, "Unavailable", "The server is overloaded and can't handle the request.")},
    "json": {"throttle": (400, "ThrottlingException", "Rate exceeded"),
             "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
             "503": (503, "ServiceUnavailable", "Service is unavailable. Please try again.")},
}
ERRORS["cbor"] = ERRORS["json"]
# Eventual consistency (config "consistency"): for that many seconds after the simulator saw a create,
# the calls that name what it created get the error AWS gives for something that does not exist yet.
CONSISTENCY_KINDS = ("security_group", "instance", "image", "launch_template", "instance_profile", "role",
                     "secret", "certificate")
# Classic ELB calls that name a listener's certificate.
CERTIFICATE_CALLS = {"CreateLoadBalancer", "CreateLoadBalancerListeners", "SetLoadBalancerListenerSSLCertificate"}
LAUNCH_TEMPLATE_CALLS = {"DescribeLaunchTemplates", "DescribeLaunchTemplateVersions",
                         "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplate",
                         "DeleteLaunchTemplateVersions"}
INSTANCE_CALLS = {"DescribeInstances", "TerminateInstances", "StopInstances", "StartInstances", "CreateImage",
                  "GetConsoleOutput", "ModifyInstanceAttribute"}
GROUP_CALLS = {"DescribeSecurityGroups", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
               "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup",
               "DescribeSecurityGroupRules"}
PROFILE_CALLS = {"GetInstanceProfile", "AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile",
                 "DeleteInstanceProfile", "TagInstanceProfile"}
ROLE_CALLS = {"GetRole", "GetRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "TagRole",
              "AddRoleToInstanceProfile", "DeleteRole"}
SECRET_CALLS = {"GetSecretValue", "DescribeSecret", "PutSecretValue", "UpdateSecret", "TagResource",
                "DeleteSecret"}
OOS_DESCRIPTION = "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


def log(message):
    if VERBOSE:
        print(f"[sim {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# A tolerant XML element index (regex over tags, depth by a stack) used to rewrite blocks of the
# upstream's responses in place: only the spans we change are touched, the rest stays byte-exact.

TAG_RE = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)(?:\s[^<>]*?)?(/?)>")


class El:
    __slots__ = ("name", "start", "inner", "close", "end", "children")

    def __init__(self, name, start, inner):
        self.name, self.start, self.inner = name, start, inner  # inner: just after the open tag
        self.close = self.end = None  # close: start of the closing tag; end: just after it
        self.children = []


def index_xml(xml):
    """Return {tag name: [El, ...]} for every complete element of `xml`, in document order."""
    by_name, stack = {}, []
    for m in TAG_RE.finditer(xml):
        closing, name, self_closing = m.groups()
        if closing:
            while stack:  # pop to the matching open tag (tolerates stray tags)
                el = stack.pop()
                if el.name == name:
                    el.close, el.end = m.start(), m.end()
                    break
            continue
        el = El(name, m.start(), m.end())
        if stack:
            stack[-1].children.append(el)
        by_name.setdefault(name, []).append(el)
        if self_closing:
            el.close = el.end = m.end()
        else:
            stack.append(el)
    return {k: [e for e in v if e.end is not None] for k, v in by_name.items()}


def child(el, name):
    return next((c for c in el.children if c.name == name and c.end is not None), None)


def text(xml, el):
    return xml[el.inner:el.close] if el is not None else None


def descendants(el):
    for c in el.children:
        yield c
        yield from descendants(c)


def apply_edits(xml, edits):
    """edits: [(start, end, replacement)], non-overlapping."""
    for start, end, new in sorted(edits, reverse=True):
        xml = xml[:start] + new + xml[end:]
    return xml


# --------------------------------------------------------------------------------------------------
# Request identity

def identify(headers, path, body):
    """-> (service, action, params, access key, region, protocol) of a forwarded AWS request."""
    m = CREDENTIAL_RE.search(headers.get("Authorization", ""))
    if m:
        akid, region, service = m.group(1), m.group(3), m.group(4)
    else:  # e.g. ec2.us-east-1.amazonaws.com
        akid, region = "test", "us-east-1"
        service = headers.get("Host", "unknown").split(":")[0].split(".")[0]
    query = urlsplit(path).query
    params = dict(parse_qsl(query, keep_blank_values=True))
    target = headers.get("X-Amz-Target")
    if "x-www-form-urlencoded" in headers.get("Content-Type", "") and body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    service = IAM_PREFIXES.get(service, service)
    rpc = RPC_V2_PATH.match(urlsplit(path).path)
    action = target.rsplit(".", 1)[-1] if target else params.get("Action", "")
    if rpc:
        action, protocol = rpc.group(1), "cbor"
    elif target or service in JSON_SERVICES:
        protocol = "json"
    else:
        protocol = "ec2" if service == "ec2" else "query"
    return service, action, params, akid, region, protocol


def is_mutating(action):
    return bool(action) and not action.startswith(READ_PREFIXES)


def error_response(protocol, service, kind, request_id):
    """The protocol's error document for `kind` (throttle, 500, 503) -> (status, headers, body)."""
    status, code, message = ERRORS[protocol][kind]
    return error_document(protocol, service, status, code, message, request_id,
                          "Sender" if kind == "throttle" else "Receiver")


# --------------------------------------------------------------------------------------------------
# Upstream connections (a small keep-alive pool)

class Upstream:
    def __init__(self, url):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.idle, self.lock = [], threading.Lock()

    def request(self, method, path, headers, body):
        """Forward one request -> (status, reason, [(header, value)], body bytes)."""
        for attempt in (0, 1):
            with self.lock:
                if attempt:  # the pool went stale (the upstream closed idle connections): drop it
                    stale, self.idle = self.idle, []
                    for old in stale:
                        old.close()
                conn, reused = (self.idle.pop(), True) if self.idle else (None, False)
            conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:  # a stale keep-alive connection: try a fresh one
                    continue
                raise
            if resp.will_close:
                conn.close()
            else:
                with self.lock:
                    self.idle.append(conn)
            return resp.status, resp.reason, resp.getheaders(), data
        raise ConnectionError("unreachable")


# --------------------------------------------------------------------------------------------------
# The world: one config and everything counted, held or scheduled since it was set.

class World:
    def __init__(self, config):
        self.config = config
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.requests = self.mutating = 0
        self.by_action, self.fault_counts, self.action_n = {}, {}, {}
        self.log, self.events, self.timers = [], [], []
        self.killed = False
        self.released = threading.Event()  # set when a new config replaces this one (frees hangs)
        self.holds = {kind: {} for kind in HOLD_KINDS}
        # "kind:id" -> {"kind", "id", "ready": t it left its transitional state, "seen": t a response
        # first showed it ready (None until then)}: the readiness lag of whoever is polling.
        self.readiness = {}
        self.replays = 0
        # (kind, id) -> when the simulator saw it created; launch template -> its instance profile.
        self.fresh, self.template_profiles, self.not_visible = {}, {}, {}
        # Busy states: replication group -> when a modify was seen; secret name -> when it was force-deleted.
        self.modified, self.deleted_secrets = {}, {}

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def close(self):
        self.released.set()
        for timer in self.timers:
            timer.cancel()

    def draw_fault(self, service, action, n, mutating):
        """Fault kind for the n-th request (0-based) of service:action, or None."""
        faults = self.config.get("faults") or {}
        probability = float(faults.get("probability", 0.0))
        actions = faults.get("actions")
        if probability <= 0 or (actions and f"{service}:{action}" not in actions):
            return None
        if faults.get("mutating_only") and not mutating:
            return None
        rng = random.Random(f"{self.config.get('seed', 0)}:{service}:{action}:{n}")
        if rng.random() >= probability:
            return None
        return rng.choice(list(faults.get("kinds") or FAULT_KINDS))

    def record(self, service, action, mutating, status, fault):
        with self.lock:
            self.log.append({"t": self.now(), "service": service, "action": action, "mutating": mutating,
                             "status": status, "fault": fault})

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "mutating": self.mutating,
                    "by_action": json.loads(json.dumps(self.by_action)), "faults": dict(self.fault_counts),
                    "killed": self.killed, "client_token_replays": self.replays,
                    "log": list(self.log), "events": list(self.events),
                    "readiness": [dict(r) for r in self.readiness.values()],
                    "not_visible": dict(self.not_visible)}

    # ---- eventual consistency ----------------------------------------------------------------------
    def consistency(self, kind):
        c = self.config.get("consistency")
        if isinstance(c, (int, float)):
            return float(c)
        return float((c or {}).get(kind, (c or {}).get("default", 0)) or 0)

    def created(self, kind, ids):
        if self.consistency(kind) > 0:
            with self.lock:
                for rid in ids:
                    if rid:
                        self.fresh.setdefault((kind, rid), time.monotonic())

    def unseen(self, kind, rid):
        with self.lock:
            since = self.fresh.get((kind, rid))
        return since is not None and time.monotonic() - since < self.consistency(kind)

    def count_not_visible(self, key):
        with self.lock:
            self.not_visible[key] = self.not_visible.get(key, 0) + 1

    # ---- busy states -------------------------------------------------------------------------------
    def busy_seconds(self, key):
        return float((self.config.get("busy") or {}).get(key, 0) or 0)

    def busy_group(self, name):
        """"snapshotting" (for busy.snapshotting seconds after the config) or "modifying" (for
        busy.modifying seconds after a modify the simulator saw) for a replication group, or None."""
        if time.monotonic() - self.t0 < self.busy_seconds("snapshotting"):
            return "snapshotting"
        with self.lock:
            since = self.modified.get(name)
        if since is not None and time.monotonic() - since < self.busy_seconds("modifying"):
            return "modifying"
        return None

    def deleting_secret(self, name):
        with self.lock:
            since = self.deleted_secrets.get(name)
        return since is not None and time.monotonic() - since < self.busy_seconds("secret_deletion")

    # ---- holds -----------------------------------------------------------------------------------
    def hold(self, kind, ids):
        seconds = float((self.config.get("holds") or {}).get(kind, 0) or 0)
        if seconds > 0:
            with self.lock:
                for rid in ids:
                    self.holds[kind].setdefault(rid, time.monotonic())

    def held(self, kind):
        """Ids of `kind` still inside their hold."""
        seconds = float((self.config.get("holds") or {}).get(kind, 0) or 0)
        now = time.monotonic()
        with self.lock:
            return {rid for rid, since in self.holds[kind].items() if now - since < seconds}

    def tracked(self, kind):
        """Ids of `kind` that were ever held under this config (their readiness is measured)."""
        with self.lock:
            return set(self.holds[kind])

    def became_ready(self, kind, rid, at=None):
        """`rid` left its transitional state at `at` (t, seconds since the config), default its hold's end."""
        with self.lock:
            if at is None:
                since = self.holds[kind].get(rid)
                if since is None:
                    return
                seconds = float((self.config.get("holds") or {}).get(kind, 0) or 0)
                at = round(since + seconds - self.t0, 3)
            self.readiness.setdefault(f"{kind}:{rid}", {"kind": kind, "id": rid, "ready": at, "seen": None})

    def seen_ready(self, kind, rid):
        """A response is showing `rid` ready: the first such answer is when the client could notice."""
        self.became_ready(kind, rid)
        with self.lock:
            entry = self.readiness.get(f"{kind}:{rid}")
            if entry is not None and entry["seen"] is None:
                entry["seen"] = self.now()


# ---- response rewriters: (xml, world) -> new xml or None (unchanged) --------------------------------

def rewrite_db_instances(xml, world):
    tracked = world.tracked("db_instance")
    if not tracked:
        return None
    held = world.held("db_instance")
    edits = []
    for db in index_xml(xml).get("DBInstance", []):
        ident, status = child(db, "DBInstanceIdentifier"), child(db, "DBInstanceStatus")
        name = (text(xml, ident) or "").lower()
        if name not in tracked or status is None or text(xml, status) != "available":
            continue
        if name in held:
            edits.append((status.inner, status.close, "creating"))
            edits += [(e.start, e.end, "") for e in db.children if e.name == "Endpoint"]
        else:
            world.seen_ready("db_instance", name)
    return apply_edits(xml, edits)


def rewrite_replication_groups(xml, world):
    tracked = world.tracked("replication_group")
    edits = []
    for group in index_xml(xml).get("ReplicationGroup", []):
        status = child(group, "Status")
        name = (text(xml, child(group, "ReplicationGroupId")) or "").lower()
        busy = world.busy_group(name)
        if busy and status is not None and text(xml, status) == "available":
            edits.append((status.inner, status.close, busy))
            continue
        if name not in tracked or status is None or text(xml, status) != "available":
            continue
        held = world.held("replication_group")
        if name not in held:
            world.seen_ready("replication_group", name)
            continue
        edits.append((status.inner, status.close, "creating"))
        for el in descendants(group):
            if el.name == "NodeGroup" and child(el, "Status") is not None:
                edits.append((child(el, "Status").inner, child(el, "Status").close, "creating"))
            elif el.name in ("PrimaryEndpoint", "ReaderEndpoint", "ConfigurationEndpoint"):
                edits.append((el.start, el.end, ""))
    return apply_edits(xml, edits)


def rewrite_images(xml, world):
    tracked = world.tracked("image")
    if not tracked:
        return None
    held = world.held("image")
    edits = []
    for item in index_xml(xml).get("item", []):
        state, image = child(item, "imageState"), text(xml, child(item, "imageId"))
        if image not in tracked or state is None or text(xml, state) != "available":
            continue
        if image in held:
            edits.append((state.inner, state.close, "pending"))
        else:
            world.seen_ready("image", image)
    return apply_edits(xml, edits)


def rewrite_instances(xml, world):
    held, builders = world.held("instance"), world.tracked("builder")
    if not held and not builders:
        return None
    edits = []
    for item in index_xml(xml).get("item", []):
        state, iid = child(item, "instanceState"), text(xml, child(item, "instanceId"))
        name = text(xml, child(state, "name")) if state is not None else None
        if iid in held and name == "running":  # only while really running upstream
            edits.append((state.start, state.end, "<instanceState><code>0</code><name>pending</name></instanceState>"))
        elif iid in builders and name == "stopped":
            world.seen_ready("builder", iid)
    return apply_edits(xml, edits)


def rewrite_group_instances(xml, world):
    """Hold Auto Scaling members in Pending from the first answer that lists them (boot + health)."""
    if not float((world.config.get("holds") or {}).get("group_instance", 0) or 0):
        return None
    members = [(m, text(xml, child(m, "InstanceId"))) for m in index_xml(xml).get("member", [])
               if child(m, "LifecycleState") is not None and child(m, "InstanceId") is not None]
    world.hold("group_instance", [iid for _, iid in members])
    held = world.held("group_instance")
    edits = []
    for member, iid in members:
        state = child(member, "LifecycleState")
        if text(xml, state) != "InService":
            continue
        if iid in held:
            edits.append((state.inner, state.close, "Pending"))
        else:
            world.seen_ready("group_instance", iid)
    return apply_edits(xml, edits)


def rewrite_instance_health(xml, world):
    out = world.config.get("out_of_service") or []
    every = out == "all"  # no node ever serves the health target
    out = set() if every else set(out)
    if not out and not every:
        return None
    edits = []
    for member in index_xml(xml).get("member", []):
        iid = text(xml, child(member, "InstanceId"))
        if every or iid in out:
            edits.append((member.inner, member.close,
                          f"<InstanceId>{iid}</InstanceId><State>OutOfService</State><ReasonCode>Instance"
                          f"</ReasonCode><Description>{OOS_DESCRIPTION}</Description>"))
    return apply_edits(xml, edits)


REWRITERS = {
    "rds:DescribeDBInstances": rewrite_db_instances, "rds:CreateDBInstance": rewrite_db_instances,
    "elasticache:DescribeReplicationGroups": rewrite_replication_groups,
    "elasticache:CreateReplicationGroup": rewrite_replication_groups,
    "ec2:DescribeImages": rewrite_images,
    "ec2:DescribeInstances": rewrite_instances,
    "autoscaling:DescribeAutoScalingGroups": rewrite_group_instances,
    "elasticloadbalancing:DescribeInstanceHealth": rewrite_instance_health,
}


# Filtered lists that leave out what was created too recently (eventual consistency): the list
# element, the id inside each item, and the kind.
FILTERED_LISTS = {
    "ec2:DescribeSecurityGroups": ("securityGroupInfo", "groupId", "security_group"),
    "ec2:DescribeImages": ("imagesSet", "imageId", "image"),
    "ec2:DescribeLaunchTemplates": ("launchTemplates", "launchTemplateId", "launch_template"),
    "ec2:DescribeInstances": ("instancesSet", "instanceId", "instance"),
}


def omit_fresh(key, params, xml, world):
    """A Describe by filter (not by id) leaves out what is not visible yet, as AWS's lists do.
    -> (new xml, how many were left out), or None."""
    if key not in FILTERED_LISTS or not world.config.get("consistency"):
        return None
    if not any(k.startswith("Filter.") for k in params):
        return None
    container, id_tag, kind = FILTERED_LISTS[key]
    index = index_xml(xml)
    edits, omitted = [], 0
    for listing in index.get(container, []):
        items = [c for c in listing.children if c.name == "item" and c.end is not None]
        gone = [i for i in items if world.unseen(kind, text(xml, child(i, id_tag)) or "")]
        if not gone:
            continue
        omitted += len(gone)
        if key == "ec2:DescribeInstances" and len(gone) == len(items):
            # A reservation with no instance left: leave the reservation out too.
            reservation = next((r for r in index.get("item", []) if listing in r.children), None)
            if reservation is not None:
                edits.append((reservation.start, reservation.end, ""))
                continue
        edits.extend((i.start, i.end, "") for i in gone)
    return (apply_edits(xml, edits), omitted) if omitted else None


def profile_name(value):
    """An instance profile's name, from its name or ARN (arn:aws:iam::1:instance-profile/path/name)."""
    return (value or "").rsplit("/", 1)[-1]


def created(world, key, params, answer):
    """Note what a successful create made, for the eventual-consistency model (instances and
    images are noted by Simulator.observe, which reads their ids for holds too)."""
    if key == "ec2:CreateSecurityGroup":
        world.created("security_group", re.findall(r"<groupId>([^<]+)</groupId>", answer))
    elif key in ("ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion"):
        names = [params.get("LaunchTemplateName", ""), params.get("LaunchTemplateId", "")]
        names += re.findall(r"<launchTemplateId>([^<]+)</launchTemplateId>", answer)
        names += re.findall(r"<launchTemplateName>([^<]+)</launchTemplateName>", answer)
        if key == "ec2:CreateLaunchTemplate":
            world.created("launch_template", names)
        profile = profile_name(params.get("LaunchTemplateData.IamInstanceProfile.Name")
                               or params.get("LaunchTemplateData.IamInstanceProfile.Arn"))
        if profile:
            with world.lock:
                world.template_profiles.update({n: profile for n in names if n})
    elif key == "iam:CreateInstanceProfile":
        world.created("instance_profile", [params.get("InstanceProfileName", "")])
    elif key == "iam:CreateRole":
        world.created("role", [params.get("RoleName", "")])
    elif key == "secretsmanager:CreateSecret":
        try:
            answer_json = json.loads(answer)
        except ValueError:
            answer_json = {}
        world.created("secret", [answer_json.get("Name", ""), answer_json.get("ARN", "")])
    elif key in ("acm:ImportCertificate", "acm:DescribeCertificate"):
        # ELB lags behind from issuance: an import is issued at once, a requested certificate
        # when a DescribeCertificate first shows it ISSUED (ACM validates it after a while).
        try:
            answer_json = json.loads(answer)
        except ValueError:
            answer_json = {}
        certificate = answer_json.get("Certificate") or {}
        if key == "acm:ImportCertificate":
            world.created("certificate", [answer_json.get("CertificateArn", "")])
        elif certificate.get("Status") == "ISSUED":
            world.created("certificate", [certificate.get("CertificateArn", "")])


def numbered(params, pattern):
    r"""The values of the numbered parameters matching `pattern` (e.g. r"GroupId\.\d+")."""
    rx = re.compile(pattern + "$")
    return [v for k, v in params.items() if rx.match(k)]


def not_visible(world, service, action, params, body):
    """(status, code, message) of AWS's answer to a call that names what was created too recently to
    be visible, or None. The codes are those AWS documents and the Terraform AWS provider retries."""
    if not world.config.get("consistency"):
        return None
    if service == "ec2":
        groups = []
        if action in GROUP_CALLS:
            groups = numbered(params, r"GroupId\.\d+") + [params.get("GroupId", "")]
            groups += numbered(params, r"IpPermissions\.\d+\.Groups\.\d+\.GroupId")
        resources = numbered(params, r"ResourceId\.\d+") if action in ("CreateTags", "DeleteTags") else []
        for gid in groups + [r for r in resources if r.startswith("sg-")]:
            if world.unseen("security_group", gid):
                return 400, "InvalidGroup.NotFound", f"The security group '{gid}' does not exist"
        instances = numbered(params, r"InstanceId\.\d+") + [params.get("InstanceId", "")] \
            if action in INSTANCE_CALLS else []
        for iid in instances + [r for r in resources if r.startswith("i-")]:
            if world.unseen("instance", iid):
                return 400, "InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist"
        images = numbered(params, r"ImageId\.\d+") if action in ("DescribeImages", "DeregisterImage") else []
        if action == "DeregisterImage":
            images.append(params.get("ImageId", ""))
        for image in images + [r for r in resources if r.startswith("ami-")]:
            if world.unseen("image", image):
                return 400, "InvalidAMIID.NotFound", f"The image id '[{image}]' does not exist"
        if action in LAUNCH_TEMPLATE_CALLS:
            for name in numbered(params, r"LaunchTemplateName\.\d+") + [params.get("LaunchTemplateName", "")]:
                if world.unseen("launch_template", name):
                    return (400, "InvalidLaunchTemplateName.NotFoundException",
                            "At least one of the launch templates specified in the request does not exist.")
            for tid in numbered(params, r"LaunchTemplateId\.\d+") + [params.get("LaunchTemplateId", "")]:
                if world.unseen("launch_template", tid):
                    return (400, "InvalidLaunchTemplateId.NotFound",
                            f"The specified launch template, with template ID {tid}, does not exist.")
        if action == "RunInstances":
            profile = profile_name(params.get("IamInstanceProfile.Name") or params.get("IamInstanceProfile.Arn"))
            if world.unseen("instance_profile", profile):
                return (400, "InvalidParameterValue",
                        f"Value ({profile}) for parameter iamInstanceProfile.name is invalid. "
                        "Invalid IAM Instance Profile name")
    elif service == "autoscaling" and action in ("CreateAutoScalingGroup", "UpdateAutoScalingGroup"):
        template = params.get("LaunchTemplate.LaunchTemplateName") or params.get("LaunchTemplate.LaunchTemplateId")
        if template and world.unseen("launch_template", template):
            return (400, "ValidationError", "You must use a valid fully-formed launch template. The specified "
                    f"launch template, with template name {template}, does not exist.")
        with world.lock:
            profile = world.template_profiles.get(template or "")
        if profile and world.unseen("instance_profile", profile):
            return (400, "ValidationError", "You must use a valid fully-formed launch template. Value "
                    f"({profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
    elif service == "iam":
        profile = params.get("InstanceProfileName", "")
        if action in PROFILE_CALLS and world.unseen("instance_profile", profile):
            return 404, "NoSuchEntity", f"Instance Profile {profile} cannot be found."
        role = params.get("RoleName", "")
        if action in ROLE_CALLS and world.unseen("role", role):
            return 404, "NoSuchEntity", f"The role with name {role} cannot be found."
    elif service == "elasticloadbalancing" and action in CERTIFICATE_CALLS:
        for arn in numbered(params, r"Listeners\.member\.\d+\.SSLCertificateId") + [params.get("SSLCertificateId", "")]:
            if world.unseen("certificate", arn):
                return 400, "CertificateNotFound", f"Server Certificate not found for the key: {arn}"
    elif service == "secretsmanager" and action in SECRET_CALLS:
        try:
            secret = (json.loads(body or b"{}") or {}).get("SecretId", "")
        except ValueError:
            secret = ""
        if world.unseen("secret", secret):
            return 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
    return None


GROUP_CHANGES = {"ModifyReplicationGroup", "IncreaseReplicaCount", "DecreaseReplicaCount", "DeleteReplicationGroup"}


def busy(world, service, action, params, body):
    """(status, code, message) of AWS's refusal of a call on something busy, or None: a replication
    group snapshotting or modifying refuses changes; a force-deleted secret's name cannot be used
    again until its deletion completes."""
    if service == "elasticache" and action in GROUP_CHANGES:
        group = params.get("ReplicationGroupId", "").lower()
        state = world.busy_group(group)
        if state:
            return (400, "InvalidReplicationGroupState",
                    f"Replication group {group} is not in available state. It is {state}.")
    elif service == "secretsmanager" and action == "CreateSecret":
        try:
            name = (json.loads(body or b"{}") or {}).get("Name", "")
        except ValueError:
            name = ""
        if name and world.deleting_secret(name):
            return (400, "InvalidRequestException", "You can't create this secret because a secret with "
                    "this name is already scheduled for deletion.")
    return None


def note_busy(world, key, params, body):
    """After a successful change: a modified replication group is modifying for a while; a
    force-deleted secret is being deleted for a while."""
    if key in ("elasticache:ModifyReplicationGroup", "elasticache:IncreaseReplicaCount",
               "elasticache:DecreaseReplicaCount") and world.busy_seconds("modifying") > 0:
        with world.lock:
            world.modified[params.get("ReplicationGroupId", "").lower()] = time.monotonic()
    elif key == "secretsmanager:DeleteSecret" and world.busy_seconds("secret_deletion") > 0:
        try:
            request = json.loads(body or b"{}") or {}
        except ValueError:
            request = {}
        if request.get("ForceDeleteWithoutRecovery"):
            with world.lock:
                world.deleted_secrets[request.get("SecretId", "")] = time.monotonic()


def cbor(value):
    """The CBOR encoding (RFC 8949) of a text string or a map of them: all an error document needs."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError(n)
    if isinstance(value, str):
        data = value.encode()
        return head(3, len(data)) + data
    return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())


def error_document(protocol, service, status, code, message, request_id, kind_type="Sender"):
    """An AWS error answer in the service's wire format -> (status, headers, body)."""
    if protocol == "cbor":
        body = cbor({"__type": code, "message": message})
        return status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                        ("x-amzn-RequestId", request_id)], body
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)], body
    if protocol == "ec2":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s'
                '</Message></Error></Errors><RequestID>%s</RequestID></Response>' % (code, message, request_id))
    else:
        xmlns = XMLNS.get(service, "https://%s.amazonaws.com/doc/" % service)
        body = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
                '<RequestId>%s</RequestId></ErrorResponse>' % (xmlns, kind_type, code, message, request_id))
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()


def is_builder(params):
    """Does a RunInstances request tag what it launches deployer:component=builder?"""
    for key, value in params.items():
        m = re.fullmatch(r"TagSpecification\.(\d+)\.Tag\.(\d+)\.Key", key)
        if m and value == "deployer:component" \
                and params.get(f"TagSpecification.{m[1]}.Tag.{m[2]}.Value") == "builder":
            return True
    return False


# --------------------------------------------------------------------------------------------------
# The proxy

class Simulator:
    def __init__(self, upstream, iam_policy=None):
        self.upstream = Upstream(upstream)
        # The policy every request is authorized against unless a config says otherwise (None: off).
        self.iam_policy = iam_policy
        # Every denial since the simulator started: kept across configs, so a suite can read them last.
        self.denials, self.denials_lock = [], threading.Lock()
        self.world = World({})
        self.world.policy = self.policy_for({})
        self.world_lock = threading.Lock()
        # ClientToken -> upstream answer of the first RunInstances. Kept across configs on purpose:
        # it is state of the (simulated) AWS account, like the instances themselves.
        self.tokens, self.token_locks, self.tokens_lock = {}, {}, threading.Lock()

    def policy_for(self, config):
        """-> (Policy, account) or None: config "iam" ({"policy": path or document, "account": id},
        or false for off) over the --iam-policy default."""
        setting = config.get("iam", {"policy": self.iam_policy} if self.iam_policy else None)
        if not setting or not setting.get("policy"):
            return None
        return iam.Policy(setting["policy"]), str(setting.get("account", "000000000000"))

    def configure(self, config):
        world = World(config)
        world.policy = self.policy_for(config)
        with self.world_lock:
            old, self.world = self.world, world
        old.close()

    def ask(self, service, form, akid, region):
        """A query-protocol call the simulator itself sends upstream -> (status, body text)."""
        body = urlencode(form).encode()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = [("Host", f"{self.upstream.host}:{self.upstream.port}"),
                   ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                   ("X-Amz-Date", stamp), ("Content-Length", str(len(body))),
                   ("Authorization", f"AWS4-HMAC-SHA256 Credential={akid}/{stamp[:8]}/{region}/{service}/aws4_request, "
                                     f"SignedHeaders=content-type;host;x-amz-date, Signature={'0' * 64}")]
        status, _, resp_headers, data = self.upstream.request("POST", "/", headers, body)
        if any(k.lower() == "content-encoding" and v.lower() == "gzip" for k, v in resp_headers):
            data = gzip.decompress(data)
        return status, data.decode("utf-8", "replace")

    def lookup(self, akid, region):
        """lookup(kind, name) for iam.checks: what the account holds, read from the upstream."""
        def iam_call(action, **params):
            status, xml = self.ask("iam", {"Action": action, "Version": "2010-05-08", **params}, akid, "us-east-1")
            return xml if status == 200 else None

        def lookup(kind, name):
            if kind == "role":
                xml = iam_call("GetRole", RoleName=name)
                m = xml and re.search(r"<Path>([^<]*)</Path>", xml)
                return m.group(1) if m else None
            if kind in ("instance-profile", "profile-role"):
                xml = iam_call("GetInstanceProfile", InstanceProfileName=name)
                if not xml:
                    return None
                roles = re.search(r"<Roles>(.*)</Roles>", xml, re.S)
                if kind == "profile-role":
                    inner = roles.group(1) if roles else ""
                    role, path = re.search(r"<RoleName>([^<]*)</RoleName>", inner), re.search(r"<Path>([^<]*)</Path>", inner)
                    return (role.group(1), path.group(1) if path else "/") if role else None
                own = xml.replace(roles.group(0), "") if roles else xml
                m = re.search(r"<Path>([^<]*)</Path>", own)
                return m.group(1) if m else "/"
            if kind == "template-profile":
                template, version = name.split("|", 1)
                key = "LaunchTemplateId" if template.startswith("lt-") else "LaunchTemplateName"
                status, xml = self.ask("ec2", {"Action": "DescribeLaunchTemplateVersions", "Version": "2016-11-15",
                                               key: template, "LaunchTemplateVersion.1": version}, akid, region)
                m = status == 200 and re.search(r"<iamInstanceProfile>(.*?)</iamInstanceProfile>", xml, re.S)
                if not m:
                    return None
                found = re.search(r"<name>([^<]*)</name>", m.group(1)) or re.search(r"<arn>([^<]*)</arn>", m.group(1))
                return found.group(1).rsplit("/", 1)[-1] if found else None
            return None
        return lookup

    def elb_zone_conflict(self, action, params, akid, region):
        """Classic ELB takes one subnet per Availability Zone: -> (status, code, message) of AWS's
        refusal of a CreateLoadBalancer or AttachLoadBalancerToSubnets that would attach two, or None."""
        if action not in ("CreateLoadBalancer", "AttachLoadBalancerToSubnets"):
            return None
        subnets = numbered(params, r"Subnets\.member\.\d+")
        if action == "AttachLoadBalancerToSubnets":
            status, xml = self.ask("elasticloadbalancing", {
                "Action": "DescribeLoadBalancers", "Version": "2012-06-01",
                "LoadBalancerNames.member.1": params.get("LoadBalancerName", "")}, akid, region)
            block = re.search(r"<Subnets>(.*?)</Subnets>", xml, re.S) if status == 200 else None
            subnets += re.findall(r"<member>([^<]+)</member>", block.group(1)) if block else []
        subnets = list(dict.fromkeys(subnets))
        if len(subnets) < 2:
            return None
        form = {"Action": "DescribeSubnets", "Version": "2016-11-15"}
        form.update({f"SubnetId.{i + 1}": sid for i, sid in enumerate(subnets)})
        status, xml = self.ask("ec2", form, akid, region)
        if status != 200:
            return None
        zones = re.findall(r"<availabilityZone>([^<]+)</availabilityZone>", xml)
        if len(zones) != len(set(zones)):
            return 409, "InvalidConfigurationRequest", "ELB cannot be attached to multiple subnets in the same AZ."
        return None

    def authorize(self, world, service, action, params, body, akid, region, protocol):
        """-> None, or (status, code, message) of AWS's answer to a request the policy does not allow."""
        if world.policy is None:
            return None
        policy, account = world.policy
        request = iam.Request(service, action, params, body, region, account)
        try:
            wanted = iam.checks(request, self.lookup(akid, region))
        except OSError:
            return None
        for needed, resource, context in wanted:
            if policy.allows(needed, resource, context):
                continue
            with self.denials_lock:
                self.denials.append({"t": world.now(), "call": f"{service}:{action}", "action": needed,
                                     "resource": resource})
            message = iam.denial(needed, resource, account)
            if service == "ec2":
                return 403, "UnauthorizedOperation", f"You are not authorized to perform this operation. {message}"
            if protocol in ("json", "cbor"):
                return 400, "AccessDeniedException", message
            return 403, "AccessDenied", message
        return None

    def forward(self, world, key, params, method, path, headers, body):
        """Forward, answering a repeated RunInstances ClientToken from memory. -> (response, replayed)"""
        token = params.get("ClientToken") if key == "ec2:RunInstances" else None
        if not token:
            return self.upstream.request(method, path, headers, body), False
        with self.tokens_lock:
            lock = self.token_locks.setdefault(token, threading.Lock())
        with lock:  # a retry racing the first attempt waits for it rather than launching twice
            if token in self.tokens:
                with world.lock:
                    world.replays += 1
                return self.tokens[token], True
            resp = self.upstream.request(method, path, headers, body)
            if resp[0] == 200:
                self.tokens[token] = resp
            return resp, False

    def observe(self, world, key, params, akid, region, body):
        """Bookkeeping on a successful upstream answer: holds, scheduled power-offs, what a create
        made (not visible for a while, with eventual consistency)."""
        xml = body.decode("utf-8", "replace")
        created(world, key, params, xml)
        if key == "rds:CreateDBInstance":
            world.hold("db_instance", [params.get("DBInstanceIdentifier", "").lower()])
        elif key == "elasticache:CreateReplicationGroup":
            world.hold("replication_group", [params.get("ReplicationGroupId", "").lower()])
        elif key == "ec2:CreateImage":
            images = re.findall(r"<imageId>([^<]+)</imageId>", xml)
            world.hold("image", images)
            world.created("image", images)
        elif key == "ec2:RunInstances":
            ids = list(dict.fromkeys(re.findall(r"<instanceId>([^<]+)</instanceId>", xml)))
            world.hold("instance", ids)
            world.created("instance", ids)
            delay = world.config.get("builder_power_off")
            if delay is not None and ids and is_builder(params):
                # The node powers itself off whatever happens to deployer: the timer belongs to the
                # simulated world, not to this config, and outlives a reconfiguration.
                timer = threading.Timer(float(delay), self.power_off, (ids, akid, region))
                timer.daemon = True
                timer.start()

    def power_off(self, ids, akid, region):
        """Play the bake template's end: its success marker on the console (the emulator's
        `emulator:console` tag, see emulator/NOTES.md), then `poweroff` (StopInstances), both sent by
        the simulator itself."""
        tags = {"Action": "CreateTags", "Version": "2016-11-15",
                "Tag.1.Key": "emulator:console", "Tag.1.Value": "deployer-bake: done"}
        tags.update({f"ResourceId.{i + 1}": iid for i, iid in enumerate(ids)})
        try:
            self.ask("ec2", tags, akid, region)
        except OSError as e:
            log(f"builder console {ids} -> error: {e}")
        form = {"Action": "StopInstances", "Version": "2016-11-15"}
        form.update({f"InstanceId.{i + 1}": iid for i, iid in enumerate(ids)})
        try:
            status = self.ask("ec2", form, akid, region)[0]
        except OSError as e:
            status = f"error: {e}"
        log(f"builder_power_off {ids} -> {status}")
        world = self.world
        with world.lock:
            world.events.append({"t": world.now(), "event": "builder_power_off", "instances": ids, "status": status})
            world.holds["builder"].update({iid: time.monotonic() for iid in ids})
        for iid in ids:
            world.became_ready("builder", iid, world.now())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "cloud-simulator"

    def log_message(self, fmt, *args):
        log(fmt % args)

    # every method goes through one handler
    def do_ANY(self):
        try:
            if self.path.startswith("/_sim/"):
                self.control()
            else:
                self.proxy()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_ANY

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, headers, body, reason=None):
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = len(body)
        if self.command == "HEAD":  # no body: keep the length the upstream announced
            length = next((v for k, v in headers if k.lower() == "content-length"), length)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def drop_connection(self):
        """Close the client's connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control(self):
        sim = self.server.sim
        body = self.read_body()
        path = urlsplit(self.path).path
        if path == "/_sim/health":
            answer = {"ok": True}
        elif path == "/_sim/config" and self.command == "POST":
            try:
                config = json.loads(body or b"{}")
                assert isinstance(config, dict)
            except (ValueError, AssertionError) as e:
                return self.send(400, [("Content-Type", "application/json")], json.dumps({"error": str(e)}).encode())
            sim.configure(config)
            log(f"config {config}")
            answer = {"ok": True}
        elif path == "/_sim/stats":
            answer = sim.world.stats()
            with sim.denials_lock:
                answer["iam_denials"] = list(sim.denials)
        else:
            return self.send(404, [("Content-Type", "application/json")], b'{"error": "unknown control path"}')
        self.send(200, [("Content-Type", "application/json")], json.dumps(answer).encode())

    def proxy(self):
        sim = self.server.sim
        world = sim.world  # this request lives in the world current at its arrival
        config = world.config
        body = self.read_body()
        service, action, params, akid, region, protocol = identify(self.headers, self.path, body)
        key, mutating = f"{service}:{action}", is_mutating(action)
        kill = config.get("kill") or {}

        with world.lock:
            world.requests += 1
            n = world.action_n.get(key, 0)
            world.action_n[key] = n + 1
            counts = world.by_action.setdefault(key, {"count": 0, "faults": 0})
            counts["count"] += 1
            kill_now = False
            if mutating:
                world.mutating += 1
                if kill and world.mutating == int(kill.get("after_mutating", 0)):
                    kill_now = world.killed = True
            hang = world.killed and not kill_now and kill.get("mode") == "hang"
        fault = None if (kill_now or hang) else world.draw_fault(service, action, n, mutating)
        if fault:
            with world.lock:
                counts["faults"] += 1
                world.fault_counts[fault] = world.fault_counts.get(fault, 0) + 1
        request_id = hashlib.sha1(f"{config.get('seed', 0)}:{key}:{n}".encode()).hexdigest()[:32]
        log(f"{key} #{n} mutating={mutating} fault={fault} kill={kill_now} hang={hang}")

        if hang:  # the world stopped answering: hold the connection until the next config
            world.record(service, action, mutating, None, "hang")
            world.released.wait()
            return self.drop_connection()

        latency = config.get("latency") or {}
        delay = float(latency.get(key, latency.get("default", 0.0)) or 0)
        if delay > 0:
            time.sleep(delay)

        if fault in ("throttle", "500", "503"):
            status, headers, payload = error_response(protocol, service, fault, request_id)
            world.record(service, action, mutating, status, fault)
            return self.send(status, headers, payload)
        if fault == "reset":
            world.record(service, action, mutating, None, fault)
            return self.drop_connection()
        if fault == "slow":
            time.sleep(float((config.get("faults") or {}).get("slow_seconds", 3.0)))

        denied = sim.authorize(world, service, action, params, body, akid, region, protocol)
        if denied:
            status, code, message = denied
            status, headers, payload = error_document(protocol, service, status, code, message, request_id)
            world.record(service, action, mutating, status, "denied")
            return self.send(status, headers, payload)

        # What AWS refuses outright (one subnet per zone), then what is busy for a while.
        for refused, kind in ((sim.elb_zone_conflict(action, params, akid, region)
                               if service == "elasticloadbalancing" else None, "refused"),
                              (busy(world, service, action, params, body), "busy")):
            if refused:
                status, code, message = refused
                status, headers, payload = error_document(protocol, service, status, code, message, request_id)
                world.record(service, action, mutating, status, kind)
                return self.send(status, headers, payload)

        unseen = not_visible(world, service, action, params, body)
        if unseen:
            status, code, message = unseen
            world.count_not_visible(f"{key}:{code}")
            status, headers, payload = error_document(protocol, service, status, code, message, request_id)
            world.record(service, action, mutating, status, "not_visible")
            return self.send(status, headers, payload)

        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if body and self.headers.get("Content-Length") is None:  # the client sent it chunked
            headers.append(("Content-Length", str(len(body))))
        try:
            (status, reason, resp_headers, resp_body), replayed = sim.forward(
                world, key, params, self.command, self.path, headers, body)
        except OSError as e:
            world.record(service, action, mutating, 502, fault)
            return self.send(502, [("Content-Type", "text/plain")], f"simulator: upstream failed: {e}".encode())

        if status == 200 and not replayed:
            sim.observe(world, key, params, akid, region, resp_body)
            note_busy(world, key, params, body)
        rewriter = REWRITERS.get(key)
        if rewriter and status == 200:
            encoding = next((v for k, v in resp_headers if k.lower() == "content-encoding"), "")
            raw = gzip.decompress(resp_body) if encoding.lower() == "gzip" else resp_body
            new = rewriter(raw.decode("utf-8"), world)
            if new is not None:
                resp_body = new.encode("utf-8")
                resp_headers = [(k, v) for k, v in resp_headers if k.lower() != "content-encoding"]
        if key in FILTERED_LISTS and status == 200:
            encoding = next((v for k, v in resp_headers if k.lower() == "content-encoding"), "")
            raw = gzip.decompress(resp_body) if encoding.lower() == "gzip" else resp_body
            left_out = omit_fresh(key, params, raw.decode("utf-8"), world)
            if left_out is not None:
                new, omitted = left_out
                resp_body = new.encode("utf-8")
                resp_headers = [(k, v) for k, v in resp_headers if k.lower() != "content-encoding"]
                for _ in range(omitted):
                    world.count_not_visible(f"{key}:omitted")

        if kill_now:  # the change is committed upstream; the client never hears back
            world.record(service, action, mutating, None, "kill:" + kill.get("mode", "kill"))
            if kill.get("mode", "kill") == "hang":
                world.released.wait()
            else:
                try:
                    pid = int(kill.get("pid") or 0)
                    if pid > 0 and pid != os.getpid():  # never 0/-n: those name process groups
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError, TypeError):
                    pass
            return self.drop_connection()
        if fault == "after_commit":  # committed, but the client is told it failed
            status, headers, payload = error_response(protocol, service, "503", request_id)
            world.record(service, action, mutating, status, fault)
            return self.send(status, headers, payload)
        world.record(service, action, mutating, status, fault)
        self.send(status, resp_headers, resp_body, reason)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", default="http://127.0.0.1:4566")
    parser.add_argument("--config", help="initial config: a JSON string or a path to a JSON file")
    parser.add_argument("--iam-policy", help="authorize every request against this IAM policy file")
    parser.add_argument("--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args()
    VERBOSE = args.verbose

    server = Server((args.host, args.port), Handler)
    server.sim = Simulator(args.upstream, args.iam_policy)
    if args.config:
        source = args.config if args.config.lstrip().startswith("{") else open(args.config).read()
        server.sim.configure(json.loads(source))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"simulator listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.sim.world.close()
        server.server_close()


if __name__ == "__main__":
    main()
