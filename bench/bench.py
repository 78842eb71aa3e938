#!/usr/bin/env python3
"""deployer's performance benchmark. Prints figures; asserts nothing (scripts/bench runs it).

Through the cloud simulator (tests/simulator), every resource that waits in real AWS is held in its
transitional state for its real duration scaled down (default 1 s per real minute), and:

  1. apply       a full-stack apply (bake included): wall time against the critical-path lower bound
                 computed from the same durations and the plan's dependency graph; readiness lag per
                 resource (from the moment it became ready in the simulator to the first answer that
                 showed it ready to deployer), against the poll interval;
  2. re-apply    with nothing to do: mutating requests (target 0);
  3. plan        no-op plan: describe requests per resource kind (through the simulator), and wall
                 time on plain LocalStack (target <= 0.3 s);
  4. start-up    `deployer --help` and `deployer plan` process wall time;
  5. peer        the same stack by an Ansible playbook (bench/peer) through the same simulator and
                 holds: its wall time against deployer's (target ratio >= 3);
  6. binary      the release binary's size.

    python3 bench/bench.py --deployer target/release/deployer --upstream http://127.0.0.1:4566 [--no-peer]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Real durations in minutes (the reference figures), scaled by --scale seconds per minute.
REAL_MINUTES = {
    "db_instance": 18.0,        # RDS PostgreSQL Multi-AZ: 15-20 min
    "replication_group": 12.0,  # ElastiCache replication group: 7-40 min
    "bake": 8.0,                # builder boots, runs the bake template, powers off: 8-10 min
    "image": 6.0,               # the AMI becomes available
    "group_instance": 3.0,      # a node boots and passes the load balancer's health check
}


def say(text):
    print(text, flush=True)


class Simulator:
    def __init__(self, upstream):
        python = os.path.join(ROOT, ".emulator/venv/bin/python")
        python = python if os.path.exists(python) else sys.executable
        self.process = subprocess.Popen(
            [python, os.path.join(ROOT, "tests/simulator/simulator.py"), "--port", "0", "--upstream", upstream],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline().strip()
        self.url = line.rsplit(" ", 1)[-1]

    def call(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def configure(self, config):
        self.call("/_sim/config", config)

    def stats(self):
        return self.call("/_sim/stats")

    def stop(self):
        self.process.kill()
        self.process.wait()


class Project:
    """A project directory: the shipped profiles and templates, and profiles/bench.toml."""

    def __init__(self, stack, poll):
        self.dir = tempfile.mkdtemp(prefix="deployer-bench-")
        for sub in ("profiles", "templates"):
            shutil.copytree(os.path.join(ROOT, sub), os.path.join(self.dir, sub))
        self.stack, self.poll = stack, poll
        with open(os.path.join(self.dir, "profiles/bench.toml"), "w") as f:
            f.write(f'extends = "local"\nstack = "{stack}"\n\n'
                    '# Bake the node image, as prod does (the simulator powers the builder off).\n'
                    '[node.bake]\nbase_image = "ami-760aaa0f"\ntimeout = "5m"\n')

    def run(self, deployer, args, endpoint, check=True):
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
                   DEPLOYER_POLL_INTERVAL=str(self.poll))
        begun = time.monotonic()
        done = subprocess.run([deployer, *args, "--profile", "bench"], cwd=self.dir, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        elapsed = time.monotonic() - begun
        if check and done.returncode != 0:
            sys.exit(f"bench: deployer {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done, elapsed

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def critical_path(steps, durations):
    """Longest path through the plan's dependency graph, each step weighted by its kind's duration.

    Returns (seconds, [resource, ...])."""
    by_name = {s["resource"]: s for s in steps}
    memo = {}

    def longest(name):
        if name not in memo:
            step = by_name[name]
            own = durations.get(step["kind"], 0.0)
            best = (0.0, [])
            for dep in step["depends_on"]:
                if dep in by_name:
                    best = max(best, longest(dep), key=lambda b: b[0])
            memo[name] = (best[0] + own, best[1] + [name])
        return memo[name]

    return max((longest(n) for n in by_name), key=lambda b: b[0])


def peer_available():
    return os.path.exists(os.path.join(ROOT, ".bench/venv/bin/ansible-playbook"))


def run_peer(stack, endpoint, holds_note):
    playbook = os.path.join(ROOT, ".bench/venv/bin/ansible-playbook")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_ENDPOINT_URL=endpoint, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    args = ["-e", f"stack={stack}", "-e", f"endpoint={endpoint}", "-e", "simulate_poweroff=false"]
    begun = time.monotonic()
    done = subprocess.run([playbook, os.path.join(ROOT, "bench/peer/create.yml"), *args], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - begun
    if done.returncode != 0:
        say(f"peer: create.yml failed (exit {done.returncode}) {holds_note}:\n{done.stdout[-3000:]}")
        elapsed = None
    subprocess.run([playbook, os.path.join(ROOT, "bench/peer/destroy.yml"), *args], env=env,
                   capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployer", required=True)
    parser.add_argument("--upstream", required=True, help="LocalStack's URL")
    parser.add_argument("--scale", type=float, default=1.0, help="simulated seconds per real minute")
    parser.add_argument("--poll", type=float, default=0.25, help="deployer's poll interval (s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each start-up and no-op plan figure")
    parser.add_argument("--applies", type=int, default=3, help="measured full applies (the median is the figure)")
    parser.add_argument("--no-peer", action="store_true", help="skip the Ansible peer")
    parser.add_argument("--log", help="write the simulator's request log of the apply to this file (JSON)")
    args = parser.parse_args()
    deployer = os.path.abspath(args.deployer)

    seconds = {kind: minutes * args.scale for kind, minutes in REAL_MINUTES.items()}
    holds = {"db_instance": seconds["db_instance"], "replication_group": seconds["replication_group"],
             "image": seconds["image"], "group_instance": seconds["group_instance"]}
    world = {"holds": holds, "builder_power_off": seconds["bake"]}
    # The plan's kinds and what each waits for in the simulator.
    durations = {"database": seconds["db_instance"], "cache": seconds["replication_group"],
                 "image": seconds["bake"] + seconds["image"], "auto-scaling-group": seconds["group_instance"]}

    simulator = Simulator(args.upstream)
    stack = f"bench{os.getpid() % 100000}"
    project = Project(stack, args.poll)
    try:
        say(f"bench: deployer {deployer} ({os.path.getsize(deployer) / 1e6:.1f} MB), poll interval {args.poll} s, "
            f"{args.scale} s per real minute: " + ", ".join(f"{k} {v:g} s" for k, v in seconds.items()))

        # 0. Warm the emulator up: LocalStack sets each service's handlers and backends up on their
        #    first use, a one-time cost that AWS does not have. A throwaway stack is applied (the
        #    simulator powers its builder off at once, and holds nothing) and destroyed first.
        warm = Project(f"{stack}w", args.poll)
        try:
            simulator.configure({"builder_power_off": 0.1})
            _, warm_wall = warm.run(deployer, ["apply", "--yes"], simulator.url)
            warm.run(deployer, ["destroy", "--yes", "--skip-final-snapshot"], args.upstream, check=False)
        finally:
            warm.remove()
        simulator.configure({})
        say(f"bench: warm-up: a throwaway stack applied in {warm_wall:.2f} s and destroyed")

        # 1. The plan's graph and its critical path.
        planned, _ = project.run(deployer, ["plan", "--output", "json"], simulator.url)
        steps = json.loads(planned.stdout)["steps"]
        bound, path = critical_path(steps, durations)

        # 2. Full applies through the holds, each from nothing (the stack is destroyed between
        #    them): single runs vary by a few percent with the emulator's own background work. The
        #    last one is the stack that the figures below use.
        walls = []
        for run in range(args.applies):
            simulator.configure(world)
            _, wall = project.run(deployer, ["apply", "--yes"], simulator.url)
            walls.append(wall)
            if run + 1 < args.applies:
                project.run(deployer, ["destroy", "--yes", "--skip-final-snapshot"], args.upstream, check=False)
        wall = statistics.median(walls)
        stats = simulator.stats()
        if args.log:
            with open(args.log, "w") as f:
                json.dump(stats["log"], f, indent=0)
        say(f"apply: {wall:.2f} s wall (median of {len(walls)}: {', '.join(f'{w:.2f}' for w in walls)}); "
            f"critical-path lower bound {bound:.2f} s ({' -> '.join(path)}); "
            f"ratio {wall / bound:.3f} (target <= 1.05)")
        say(f"apply: {stats['requests']} requests, {stats['mutating']} mutating")
        lags = sorted(stats["readiness"], key=lambda r: r["ready"])
        for entry in lags:
            lag = "never seen" if entry["seen"] is None else f"{entry['seen'] - entry['ready']:.3f} s"
            say(f"readiness lag: {entry['kind']:<18} {entry['id']:<28} ready at {entry['ready']:7.2f} s, "
                f"seen {lag} (poll interval {args.poll} s)")
        seen = [r["seen"] - r["ready"] for r in lags if r["seen"] is not None]
        if seen:
            say(f"readiness lag: max {max(seen):.3f} s, mean {statistics.mean(seen):.3f} s over {len(seen)} resources")

        # 3. Re-apply with nothing to do.
        simulator.configure({})
        again, wall = project.run(deployer, ["apply", "--yes"], simulator.url)
        stats = simulator.stats()
        say(f"re-apply: {wall:.2f} s wall, {stats['requests']} requests, {stats['mutating']} mutating (target 0)"
            + ("" if "No changes" in again.stdout else " -- NOT a no-op"))

        # 4. No-op plan: requests per kind, then wall time on plain LocalStack.
        simulator.configure({})
        project.run(deployer, ["plan", "--detailed-exitcode"], simulator.url)
        by_action = simulator.stats()["by_action"]
        describes = {k: v["count"] for k, v in sorted(by_action.items())}
        say(f"no-op plan: {sum(describes.values())} requests: " + ", ".join(f"{k} {v}" for k, v in describes.items()))
        plan_times = [project.run(deployer, ["plan", "--detailed-exitcode"], args.upstream)[1]
                      for _ in range(args.repeat)]
        say(f"no-op plan on plain LocalStack: median {statistics.median(plan_times):.3f} s, "
            f"min {min(plan_times):.3f} s over {len(plan_times)} runs (target <= 0.3 s)")

        # 5. Start-up.
        help_times = []
        for _ in range(args.repeat):
            begun = time.monotonic()
            subprocess.run([deployer, "--help"], capture_output=True, check=True)
            help_times.append(time.monotonic() - begun)
        say(f"start-up: deployer --help median {statistics.median(help_times) * 1000:.1f} ms; "
            f"deployer plan (no-op, whole run) median {statistics.median(plan_times) * 1000:.0f} ms")

        project.run(deployer, ["destroy", "--yes", "--skip-final-snapshot"], args.upstream, check=False)

        # 6. The peer through the same simulator and holds.
        if args.no_peer:
            say("peer: skipped (--no-peer)")
        elif not peer_available():
            say("peer: skipped (run bench/peer/setup to install Ansible)")
        else:
            simulator.configure(world)
            # deployer again on a fresh stack, for a like-for-like pair of figures.
            second = Project(f"{stack}b", args.poll)
            try:
                _, deployer_wall = second.run(deployer, ["apply", "--yes"], simulator.url)
                second.run(deployer, ["destroy", "--yes", "--skip-final-snapshot"], args.upstream, check=False)
            finally:
                second.remove()
            simulator.configure(world)
            peer_wall = run_peer(f"{stack}p", simulator.url, "through the simulator")
            if peer_wall is not None:
                say(f"peer: deployer {deployer_wall:.1f} s, Ansible (amazon.aws) {peer_wall:.1f} s, "
                    f"ratio {peer_wall / deployer_wall:.2f}x (target >= 3x)")
    finally:
        simulator.stop()
        project.remove()


if __name__ == "__main__":
    main()
