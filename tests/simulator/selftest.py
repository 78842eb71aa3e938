#!/usr/bin/env python3
"""Self-test of the cloud simulator against a running LocalStack.

    .emulator/venv/bin/python tests/simulator/selftest.py [--upstream http://127.0.0.1:4566] [--verbose]

Starts simulator.py on a free port, drives it with boto3 (region us-east-1, credentials test/test)
and checks every feature; verifies side effects directly on the upstream. Everything it creates is
named/tagged `simtest-<pid>-<time>` and removed at the end. Prints PASS/FAIL lines; exit 1 on a failure.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = f"simtest-{os.getpid()}-{int(time.time())}"
AMI = "ami-760aaa0f"
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    print(f"{'PASS' if ok else 'FAIL'} {name}" + (f"  ({detail})" if detail and not ok else ""), flush=True)
    return ok


class Sim:
    def __init__(self, upstream, verbose):
        cmd = [sys.executable, os.path.join(HERE, "simulator.py"), "--port", "0", "--upstream", upstream]
        self.proc = subprocess.Popen(cmd + (["--verbose"] if verbose else []), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def call(self, path, payload=None, timeout=10):
        data = None if payload is None else json.dumps(payload).encode()
        with urllib.request.urlopen(urllib.request.Request(self.url + path, data=data), timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")

    def config(self, **config):
        return self.call("/_sim/config", config)[0]

    def stats(self):
        return self.call("/_sim/stats")[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def client(service, endpoint, attempts=3, read_timeout=30, mode="standard"):
    cfg = Config(retries={"total_max_attempts": attempts, "mode": mode}, read_timeout=read_timeout, connect_timeout=5)
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
                        endpoint_url=endpoint, config=cfg)


def error_of(fn, *a, **kw):
    """-> (error code, http status) of a ClientError, (class name, None) of another exception, None if ok."""
    try:
        fn(*a, **kw)
        return None
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"].get("HTTPStatusCode")
    except Exception as e:  # noqa: BLE001 - connection level errors are what some tests expect
        return type(e).__name__, None


def param_exists(ssm_up, name):
    try:
        ssm_up.get_parameter(Name=name)
        return True
    except ssm_up.exceptions.ParameterNotFound:
        return False


def instance_state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", default="http://127.0.0.1:4566")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    sim = Sim(args.upstream, args.verbose)
    up = {s: client(s, args.upstream) for s in ("ec2", "ssm", "rds", "elasticache", "elb", "secretsmanager")}
    c = {s: client(s, sim.url) for s in ("ec2", "ssm", "rds", "elasticache", "elb", "secretsmanager", "sts")}
    one = {s: client(s, sim.url, attempts=1) for s in ("ec2", "ssm", "sts", "secretsmanager")}
    made = {"params": [], "instances": [], "images": [], "groups": [], "db": [], "rg": [], "lb": []}
    pname = lambda tag: f"/{RUN}/{tag}"  # noqa: E731

    def put(ssm, tag):
        made["params"].append(pname(tag))
        return ssm.put_parameter(Name=pname(tag), Value="v", Type="String", Overwrite=True)

    def run_instance(ec2, tag, builder=False, token=None):
        tags = [{"Key": "simtest", "Value": f"{RUN}-{tag}"}]
        if builder:
            tags.append({"Key": "deployer:component", "Value": "builder"})
        kw = {"ClientToken": token} if token else {}
        r = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": tags}], **kw)
        iid = r["Instances"][0]["InstanceId"]
        made["instances"].append(iid)
        return iid

    def tagged_instances(tag):
        r = up["ec2"].describe_instances(Filters=[{"Name": "tag:simtest", "Values": [f"{RUN}-{tag}"]}])
        return [i["InstanceId"] for res in r["Reservations"] for i in res["Instances"]]

    try:
        # ---- control API and forwarding -----------------------------------------------------------
        check("health", sim.call("/_sim/health")[0] == 200)
        check("config", sim.config(seed=1) == 200)
        vpcs = c["ec2"].describe_vpcs()["Vpcs"]
        check("forward query protocol (ec2 DescribeVpcs)",
              sorted(v["VpcId"] for v in vpcs) == sorted(v["VpcId"] for v in up["ec2"].describe_vpcs()["Vpcs"]))
        check("forward JSON protocol (secretsmanager ListSecrets)", "SecretList" in c["secretsmanager"].list_secrets())
        check("forward sts GetCallerIdentity", c["sts"].get_caller_identity()["Account"] == "000000000000")
        st = sim.stats()
        check("stats after forwarding", st["requests"] == 3 and st["mutating"] == 0
              and st["by_action"]["ec2:DescribeVpcs"] == {"count": 1, "faults": 0}
              and st["by_action"]["secretsmanager:ListSecrets"]["count"] == 1, st)

        # ---- concurrency and keep-alive -----------------------------------------------------------
        sim.config(seed=1, latency={"default": 0.2})
        errors, threads = [], []
        shared = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
                              endpoint_url=sim.url, config=Config(max_pool_connections=24))

        def worker(i):
            try:
                (shared.describe_vpcs() if i % 2 else c["secretsmanager"].list_secrets())
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        t0 = time.monotonic()
        for i in range(24):
            threads.append(threading.Thread(target=worker, args=(i,)))
            threads[-1].start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        check("24 concurrent requests with 0.2 s latency each", not errors and sim.stats()["requests"] == 24
              and elapsed < 2.4, f"errors={errors} elapsed={elapsed:.2f}")
        t0 = time.monotonic()
        for _ in range(5):
            shared.describe_vpcs()  # urllib3 reuses its keep-alive connections
        check("latency default applies to each request", time.monotonic() - t0 >= 1.0)
        sim.config(seed=1, latency={"ec2:DescribeVpcs": 0.5})
        t0 = time.monotonic(); c["ec2"].describe_vpcs(); slow = time.monotonic() - t0
        t0 = time.monotonic(); c["sts"].get_caller_identity(); fast = time.monotonic() - t0
        check("latency per action", slow >= 0.5 and fast < 0.4, f"{slow:.2f} {fast:.2f}")

        # ---- error faults per protocol ------------------------------------------------------------
        cases = [("ec2", "DescribeVpcs", lambda cl: cl.describe_vpcs()),
                 ("sts", "GetCallerIdentity", lambda cl: cl.get_caller_identity()),
                 ("secretsmanager", "ListSecrets", lambda cl: cl.list_secrets())]
        expected = {"ec2": {"throttle": ("RequestLimitExceeded", 503), "500": ("InternalError", 500),
                            "503": ("Unavailable", 503)},
                    "sts": {"throttle": ("Throttling", 400), "500": ("InternalFailure", 500),
                            "503": ("ServiceUnavailable", 503)},
                    "secretsmanager": {"throttle": ("ThrottlingException", 400), "500": ("InternalFailure", 500),
                                       "503": ("ServiceUnavailable", 503)}}
        for kind in ("throttle", "500", "503"):
            for service, action, call in cases:
                sim.config(seed=3, faults={"probability": 1.0, "kinds": [kind], "actions": [f"{service}:{action}"]})
                got = error_of(call, one[service])
                check(f"{kind} on {service}:{action} -> {expected[service][kind]}", got == expected[service][kind], got)
                got = error_of(call, c[service])  # standard mode, 3 attempts: botocore retries it
                n = sim.stats()["by_action"][f"{service}:{action}"]["count"]
                check(f"{kind} on {service}:{action} is retried by boto3 (3 attempts)", n == 4, f"count={n}")
        # a throttle that clears: retries make the call succeed
        sim.config(seed=5, faults={"probability": 0.5, "kinds": ["throttle"], "actions": ["ec2:DescribeVpcs"]})
        retrying = client("ec2", sim.url, attempts=10)
        ok = all(retrying.describe_vpcs()["Vpcs"] for _ in range(6))
        st = sim.stats()
        check("throttled calls succeed after retries", ok and st["faults"].get("throttle", 0) > 0
              and st["by_action"]["ec2:DescribeVpcs"]["count"] == 6 + st["faults"]["throttle"], st["faults"])
        # not forwarded: a mutating call that drew 500/503/throttle/reset made no change
        for kind in ("throttle", "500", "503", "reset"):
            sim.config(seed=3, faults={"probability": 1.0, "kinds": [kind], "actions": ["ssm:PutParameter"]})
            got = error_of(put, one["ssm"], f"no-{kind}")
            check(f"{kind} on ssm:PutParameter is not forwarded", got and not param_exists(up["ssm"], pname(f"no-{kind}")),
                  got)
        sim.config(seed=3, faults={"probability": 1.0, "kinds": ["reset"], "actions": ["ec2:DescribeVpcs"]})
        got = error_of(one["ec2"].describe_vpcs)
        check("reset closes the connection (botocore connection error)",
              got and got[1] is None and "Connection" in got[0], got)

        # ---- after_commit -----------------------------------------------------------------------
        sim.config(seed=3, faults={"probability": 1.0, "kinds": ["after_commit"], "mutating_only": True})
        got = error_of(put, one["ssm"], "after-commit")
        check("after_commit: JSON client sees 503 ServiceUnavailable", got == ("ServiceUnavailable", 503), got)
        check("after_commit: the parameter exists upstream", param_exists(up["ssm"], pname("after-commit")))
        vpc = [v for v in vpcs if v.get("IsDefault")][0]["VpcId"]
        got = error_of(one["ec2"].create_security_group, GroupName=f"{RUN}-ac", Description="x", VpcId=vpc)
        groups = up["ec2"].describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{RUN}-ac"]}])
        made["groups"] += [g["GroupId"] for g in groups["SecurityGroups"]]
        check("after_commit: ec2 client sees 503 Unavailable, the group exists upstream",
              got == ("Unavailable", 503) and len(groups["SecurityGroups"]) == 1, got)
        check("after_commit: mutating_only leaves reads alone", error_of(one["ec2"].describe_vpcs) is None)

        # ---- slow ---------------------------------------------------------------------------------
        sim.config(seed=3, faults={"probability": 1.0, "kinds": ["slow"], "slow_seconds": 1.5,
                                   "actions": ["ec2:DescribeVpcs", "ssm:PutParameter"]})
        t0 = time.monotonic()
        ok = error_of(c["ec2"].describe_vpcs) is None
        check("slow delays the answer", ok and time.monotonic() - t0 >= 1.5)
        impatient = client("ssm", sim.url, attempts=1, read_timeout=0.5)
        got = error_of(put, impatient, "slow")
        time.sleep(1.5)
        check("slow: the client times out, the request still reaches the upstream",
              got and got[0] == "ReadTimeoutError" and param_exists(up["ssm"], pname("slow")), got)

        # ---- kill: hang ----------------------------------------------------------------------------
        sim.config(seed=3, kill={"after_mutating": 2, "mode": "hang"})
        hasty = client("ssm", sim.url, attempts=1, read_timeout=1.5)
        first = error_of(put, hasty, "k1")
        second = error_of(put, hasty, "k2")
        third = error_of(hasty.get_parameter, Name=pname("k1"))
        st = sim.stats()
        check("kill hang: first mutating request answered", first is None, first)
        check("kill hang: k-th mutating request committed but never answered",
              second and second[0] == "ReadTimeoutError" and param_exists(up["ssm"], pname("k2")), second)
        check("kill hang: later requests hang too", third and third[0] == "ReadTimeoutError", third)
        check("kill hang: stats killed", st["killed"] and st["mutating"] == 2 and st["requests"] == 3, st)
        sim.config(seed=3)
        check("kill hang: a new config releases the world", error_of(hasty.get_parameter, Name=pname("k2")) is None)

        # ---- kill: kill ----------------------------------------------------------------------------
        victim = subprocess.Popen(["sleep", "60"])
        sim.config(seed=3, kill={"after_mutating": 1, "mode": "kill", "pid": victim.pid})
        got = error_of(put, one["ssm"], "kill")
        try:
            code = victim.wait(5)
        except subprocess.TimeoutExpired:
            victim.kill(); code = None
        check("kill kill: pid SIGKILLed, request committed, connection closed",
              code == -9 and param_exists(up["ssm"], pname("kill")) and got and got[1] is None, (code, got))
        check("kill kill: later requests are forwarded", error_of(put, one["ssm"], "after-kill") is None
              and sim.stats()["killed"])

        # ---- ClientToken ------------------------------------------------------------------------
        sim.config(seed=3)
        token = f"{RUN}-tok"
        a = run_instance(c["ec2"], "tok", token=token)
        b = run_instance(c["ec2"], "tok", token=token)
        st = sim.stats()
        check("ClientToken repeat returns the same instance",
              a == b and tagged_instances("tok") == [a] and st["client_token_replays"] == 1, (a, b))
        sim.config(seed=3, faults={"probability": 1.0, "kinds": ["after_commit"], "actions": ["ec2:RunInstances"]})
        got = error_of(run_instance, one["ec2"], "tok2", token=token + "2")
        sim.config(seed=3)
        again = run_instance(c["ec2"], "tok2", token=token + "2")
        check("ClientToken after after_commit: the retry finds the committed instance",
              got == ("Unavailable", 503) and tagged_instances("tok2") == [again], (got, again))

        # ---- holds ------------------------------------------------------------------------------
        sim.config(seed=3, holds={"db_instance": 4.0, "replication_group": 4.0, "image": 4.0, "instance": 3.0})
        db_id, rg_id = f"{RUN}-db", f"st{os.getpid()}"
        made["db"].append(db_id)
        created = c["rds"].create_db_instance(DBInstanceIdentifier=db_id, Engine="postgres", DBInstanceClass="db.t3.micro",
                                              MasterUsername="u", MasterUserPassword="passwordpassword", AllocatedStorage=20)
        made["rg"].append(rg_id)
        c["elasticache"].create_replication_group(ReplicationGroupId=rg_id, ReplicationGroupDescription="x",
                                                  CacheNodeType="cache.t3.micro", Engine="redis", NumCacheClusters=1)
        iid = run_instance(c["ec2"], "hold")
        t_instance = time.monotonic()  # every hold started before these two moments
        image = c["ec2"].create_image(InstanceId=iid, Name=f"{RUN}-img")["ImageId"]
        made["images"].append(image)
        t_last = time.monotonic()

        def looks():
            db = c["rds"].describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
            rg = c["elasticache"].describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]
            img = c["ec2"].describe_images(ImageIds=[image])["Images"][0]
            return ((db["DBInstanceStatus"], "Endpoint" in db), (rg["Status"], "PrimaryEndpoint" in rg["NodeGroups"][0]),
                    img["State"], instance_state(c["ec2"], iid))
        check("hold db_instance: create response says creating", created["DBInstance"]["DBInstanceStatus"] == "creating")
        db, rg, img, inst = looks()
        check("hold db_instance: creating, no Endpoint", db == ("creating", False), db)
        check("hold replication_group: creating, no PrimaryEndpoint", rg == ("creating", False), rg)
        check("hold image: pending", img == "pending", img)
        check("hold instance: pending (code 0)", inst == {"Code": 0, "Name": "pending"}, inst)
        check("holds do not touch the upstream",
              up["rds"].describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]["DBInstanceStatus"] == "available"
              and instance_state(up["ec2"], iid)["Name"] == "running")
        time.sleep(max(0.0, t_instance + 3.2 - time.monotonic()))
        check("hold instance ends: running", instance_state(c["ec2"], iid)["Name"] == "running")
        time.sleep(max(0.0, t_last + 4.2 - time.monotonic()))
        db, rg, img, inst = looks()
        check("holds end: db available with Endpoint, group available with PrimaryEndpoint, image available",
              db == ("available", True) and rg == ("available", True) and img == "available", (db, rg, img))
        readiness = {r["kind"]: r for r in sim.stats()["readiness"]}
        check("readiness: each held resource's end and first ready answer are recorded, seen after ready",
              {"db_instance", "replication_group", "image"} <= set(readiness)
              and all(r["seen"] is not None and r["seen"] >= r["ready"] for r in readiness.values()), readiness)

        # ---- builder power-off ------------------------------------------------------------------
        sim.config(seed=3, builder_power_off=1.5)
        builder = run_instance(c["ec2"], "builder", builder=True)
        plain = run_instance(c["ec2"], "plain")
        check("builder_power_off: running before the delay", instance_state(up["ec2"], builder)["Name"] == "running")
        time.sleep(2.5)
        events = sim.stats()["events"]
        check("builder_power_off: the builder is stopped, the other runs",
              instance_state(up["ec2"], builder)["Name"] == "stopped"
              and instance_state(up["ec2"], plain)["Name"] == "running"
              and events and events[0]["instances"] == [builder] and events[0]["status"] == 200, events)
        c["ec2"].describe_instances(InstanceIds=[builder])
        seen = [r for r in sim.stats()["readiness"] if r["kind"] == "builder"]
        check("readiness: the builder's power-off, then the first answer showing it stopped",
              len(seen) == 1 and seen[0]["id"] == builder and seen[0]["seen"] >= seen[0]["ready"] > 1.0, seen)

        # ---- out_of_service -----------------------------------------------------------------------
        lb = f"st{os.getpid()}"[-32:]
        made["lb"].append(lb)
        up["elb"].create_load_balancer(LoadBalancerName=lb, AvailabilityZones=["us-east-1a"],
                                       Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}])
        up["elb"].register_instances_with_load_balancer(LoadBalancerName=lb, Instances=[{"InstanceId": plain},
                                                                                        {"InstanceId": iid}])
        sim.config(seed=3, out_of_service=[plain])
        states = {s["InstanceId"]: s for s in c["elb"].describe_instance_health(LoadBalancerName=lb)["InstanceStates"]}
        check("out_of_service: rewritten", states[plain]["State"] == "OutOfService"
              and states[plain]["ReasonCode"] == "Instance" and "UnhealthyThreshold" in states[plain]["Description"]
              and states[iid]["State"] == "InService", states)

        # ---- IAM enforced -------------------------------------------------------------------------
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ssm:PutParameter", "ssm:GetParameter"],
             "Resource": f"arn:aws:ssm:*:*:parameter/{RUN}/*"},
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:GetRole"], "Resource": "arn:aws:iam::*:role/simtest/*"}]}
        sim.config(iam={"policy": policy})
        check("iam: allowed call forwarded", error_of(put, c["ssm"], "iam-ok") is None
              and param_exists(up["ssm"], pname("iam-ok")))
        made["params"].append(pname("iam-tagged"))
        denied = error_of(c["ssm"].put_parameter, Name=pname("iam-tagged"), Value="v", Type="String",
                          Tags=[{"Key": "simtest", "Value": RUN}])
        check("iam: tags at create need ssm:AddTagsToResource", denied == ("AccessDeniedException", 400)
              and not param_exists(up["ssm"], pname("iam-tagged")), denied)
        check("iam: resource scope (another parameter path)",
              error_of(c["ssm"].put_parameter, Name=f"/other-{RUN}", Value="v", Type="String")
              == ("AccessDeniedException", 400))
        check("iam: EC2 answers UnauthorizedOperation",
              error_of(one["ec2"].run_instances, ImageId=AMI, MinCount=1, MaxCount=1) == ("UnauthorizedOperation", 403))
        check("iam: wildcard actions", error_of(c["ec2"].describe_vpcs) is None)
        iam_c = client("iam", sim.url)
        check("iam: a role that does not exist is refused, not reported missing",
              error_of(iam_c.get_role, RoleName=f"{RUN}-none") == ("AccessDenied", 403))
        st = sim.stats()
        actions = [d["action"] for d in st["iam_denials"]]
        check("iam: denials recorded with the implicit action",
              "ssm:AddTagsToResource" in actions and "ec2:RunInstances" in actions and "iam:GetRole" in actions,
              st["iam_denials"])
        sim.config(iam=False)
        check("iam: off", error_of(one["ec2"].describe_instances) is None
              and len(sim.stats()["iam_denials"]) == len(st["iam_denials"]))

        # ---- stats and determinism --------------------------------------------------------------
        faults = {"probability": 0.5, "kinds": ["throttle", "500", "503", "reset", "after_commit"],
                  "actions": ["ec2:DescribeVpcs", "ssm:PutParameter"]}

        def scenario(seed):
            sim.config(seed=seed, faults=faults)
            for i in range(8):
                error_of(one["ec2"].describe_vpcs)
                if i % 2:
                    error_of(put, one["ssm"], f"det-{seed}-{i}")
                error_of(one["sts"].get_caller_identity)
            return sim.stats()

        def expected_faults(seed, service, action, count):
            out = []
            for n in range(count):
                rng = random.Random(f"{seed}:{service}:{action}:{n}")
                out.append(rng.choice(faults["kinds"]) if rng.random() < faults["probability"] else None)
            return out
        st = scenario(7)
        check("stats: request counts", st["requests"] == 20 and st["mutating"] == 4
              and st["by_action"]["ec2:DescribeVpcs"]["count"] == 8 and st["by_action"]["ssm:PutParameter"]["count"] == 4
              and st["by_action"]["sts:GetCallerIdentity"] == {"count": 8, "faults": 0}, st["by_action"])
        logged = [e["fault"] for e in st["log"] if e["fault"]]
        check("stats: fault counts agree with the log", sum(st["faults"].values()) == len(logged)
              == sum(a["faults"] for a in st["by_action"].values()) and len(st["log"]) == 20, st["faults"])
        seq = lambda s, a: [e["fault"] for e in s["log"] if e["action"] == a]  # noqa: E731
        check("faults follow the documented seeding", seq(st, "DescribeVpcs") == expected_faults(7, "ec2", "DescribeVpcs", 8)
              and seq(st, "PutParameter") == expected_faults(7, "ssm", "PutParameter", 4))
        again = scenario(7)
        check("same seed -> same fault decisions", seq(again, "DescribeVpcs") == seq(st, "DescribeVpcs")
              and seq(again, "PutParameter") == seq(st, "PutParameter") and again["faults"] == st["faults"])
        other = scenario(8)
        check("another seed -> other decisions", seq(other, "DescribeVpcs") != seq(st, "DescribeVpcs"))
    finally:
        cleanup(up, made)
        sim.stop()
    failed = [n for n, ok in results if not ok]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cleanup(up, made):
    def quietly(fn, *a, **kw):
        try:
            fn(*a, **kw)
        except Exception as e:  # noqa: BLE001
            print(f"cleanup: {fn.__name__}: {e}", file=sys.stderr)
    for lb in made["lb"]:
        quietly(up["elb"].delete_load_balancer, LoadBalancerName=lb)
    for image in made["images"]:
        snaps = [m["Ebs"]["SnapshotId"] for i in up["ec2"].describe_images(ImageIds=[image])["Images"]
                 for m in i.get("BlockDeviceMappings", []) if "Ebs" in m]
        quietly(up["ec2"].deregister_image, ImageId=image)
        for snap in snaps:
            quietly(up["ec2"].delete_snapshot, SnapshotId=snap)
    tagged = up["ec2"].describe_instances(Filters=[{"Name": "tag-key", "Values": ["simtest"]}])
    ids = {i["InstanceId"] for r in tagged["Reservations"] for i in r["Instances"]
           if any(t["Value"].startswith(RUN) for t in i.get("Tags", []))} | set(made["instances"])
    if ids:
        quietly(up["ec2"].terminate_instances, InstanceIds=sorted(ids))
    for db in made["db"]:
        quietly(up["rds"].delete_db_instance, DBInstanceIdentifier=db, SkipFinalSnapshot=True)
    for rg in made["rg"]:
        quietly(up["elasticache"].delete_replication_group, ReplicationGroupId=rg)
    for group in made["groups"]:
        quietly(up["ec2"].delete_security_group, GroupId=group)
    params = sorted(set(made["params"]))
    for i in range(0, len(params), 10):
        quietly(up["ssm"].delete_parameters, Names=params[i:i + 10])


if __name__ == "__main__":
    sys.exit(main())
