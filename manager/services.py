"""Service and stack operations: validate, then write the desired state. The reconciler
and the updater (on the leader) do the rest."""
from __future__ import annotations

import secrets

from manager import errors
from manager.networks import NetworkOps, check_networks
from manager.state import ClusterState, UnknownRef
from manager.store import Conflict, Store
from manager.clock import now, stamp
from manager.validation import InvalidField, check_name, check_run
from protos.shoal.v1 import manager_pb2, types_pb2

MAX_REPLICAS = 10_000
MAX_DURATION_NS = 24 * 3600 * 10**9
MODES = ("replicated", "global")
CONDITIONS = ("none", "on-failure", "any")
FAILURE_ACTIONS = ("pause", "continue", "rollback")


# The stack file's words for the fields check_service names by their CLI flag.
STACK_PATHS = {
    "--name": "name", "--mode": "deploy.mode", "--replicas": "deploy.replicas", "IMAGE": "image",
    "CMD": "command", "--env": "environment", "--publish": "ports", "--memory": "deploy.resources.memory",
    "--cpus": "deploy.resources.cpus", "--label": "labels", "--constraint": "deploy.placement.constraints",
    "--strategy": "deploy.placement", "--restart-condition": "deploy.restart_policy.condition",
    "--restart-max-attempts": "deploy.restart_policy.max_attempts", "--restart-delay": "deploy.restart_policy.delay",
    "--restart-window": "deploy.restart_policy.window", "--update-parallelism": "deploy.update_config.parallelism",
    "--update-delay": "deploy.update_config.delay", "--update-failure-action": "deploy.update_config.failure_action",
    "--update-monitor": "deploy.update_config.monitor", "--placement-pref": "deploy.placement.preferences",
    "--health-interval": "healthcheck.interval", "--health-timeout": "healthcheck.timeout",
    "--health-retries": "healthcheck.retries", "--health-start-period": "healthcheck.start_period",
    "--stop-grace-period": "stop_grace_period",
}


def check_service(spec: types_pb2.ServiceSpec) -> None:
    """Raises InvalidField naming the CLI flag of the bad value."""
    check_name(spec.name, "--name")
    if spec.mode not in MODES:
        raise InvalidField("--mode", f'"{spec.mode[:40]}" is not one of {", ".join(MODES)}')
    if spec.mode == "global" and spec.replicas:
        raise InvalidField("--replicas", "not allowed with --mode global")
    if not 0 <= spec.replicas <= MAX_REPLICAS:
        raise InvalidField("--replicas", f"must be an integer from 0 to {MAX_REPLICAS}")
    check_run(manager_pb2.RunRequest(spec=spec.task))
    r = spec.restart
    if r.condition and r.condition not in CONDITIONS:
        raise InvalidField("--restart-condition", f'"{r.condition[:40]}" is not one of {", ".join(CONDITIONS)}')
    if not 0 <= r.max_attempts <= 10_000:
        raise InvalidField("--restart-max-attempts", "must be an integer from 0 to 10000")
    for flag, value in (("--restart-delay", r.delay_ns), ("--restart-window", r.window_ns),
                        ("--update-delay", spec.update.delay_ns), ("--update-monitor", spec.update.monitor_ns),
                        ("--stop-grace-period", spec.stop_grace_ns),
                        ("--health-interval", spec.task.health.interval_ns),
                        ("--health-timeout", spec.task.health.timeout_ns),
                        ("--health-start-period", spec.task.health.start_period_ns)):
        if not 0 <= value <= MAX_DURATION_NS:
            raise InvalidField(flag, "must be a duration from 0s to 24h")
    if not 0 <= spec.update.parallelism <= MAX_REPLICAS:
        raise InvalidField("--update-parallelism", "must be an integer >= 0")
    if spec.update.failure_action and spec.update.failure_action not in FAILURE_ACTIONS:
        raise InvalidField("--update-failure-action",
                           f'"{spec.update.failure_action[:40]}" is not one of {", ".join(FAILURE_ACTIONS)}')
    if not 0 <= spec.task.health.retries <= 100:
        raise InvalidField("--health-retries", "must be an integer from 0 to 100")
    for pref in spec.preferences:
        key = pref.spread[len("node.labels."):] if pref.spread.startswith("node.labels.") else ""
        if not key:
            raise InvalidField("--placement-pref", f'"spread={pref.spread[:60]}" must be spread=node.labels.KEY')
    if spec.stack:
        check_name(spec.stack, "stack")


def _defaults(spec: types_pb2.ServiceSpec) -> None:
    if not spec.mode:
        spec.mode = "replicated"
    if not spec.restart.condition:
        spec.restart.condition = "any"
    if not spec.update.failure_action:
        spec.update.failure_action = "pause"


class ServiceOps:
    def __init__(self, state: ClusterState, store: Store, networks: "NetworkOps"):
        self.state = state
        self.store = store
        self.networks = networks

    def _resolve(self, ref: str) -> tuple[types_pb2.Service, int]:
        try:
            name = self.state.resolve_service(ref)
        except UnknownRef as exc:
            raise errors.NotFound(str(exc)) from exc
        svc, rev = self.state.services[name]
        copy = types_pb2.Service()
        copy.CopyFrom(svc)
        return copy, rev

    def _with_counts(self, svc: types_pb2.Service) -> types_pb2.Service:
        view = types_pb2.Service()
        view.CopyFrom(svc)
        live = [t for t in self.state.tasks_of(svc.id) if t.desired_state == "running"]
        view.running = sum(1 for t in live if (lambda st: st.state == "running" and st.health in ("", "healthy"))(
            self.state.status_of(t)))
        if svc.spec.mode == "global":
            view.desired = len(live)
        else:
            view.desired = svc.spec.replicas
        return view

    def _validated(self, spec: types_pb2.ServiceSpec) -> types_pb2.ServiceSpec:
        clean = types_pb2.ServiceSpec()
        clean.CopyFrom(spec)
        _defaults(clean)
        try:
            check_service(clean)
        except InvalidField as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        check_networks(self.state, list(clean.task.networks))
        return clean

    async def create(self, spec: types_pb2.ServiceSpec) -> types_pb2.Service:
        spec = self._validated(spec)
        if spec.name in self.state.services:
            raise errors.AlreadyExists(f'--name: service "{spec.name}" already exists')
        svc = types_pb2.Service(id=secrets.token_hex(12), spec=spec, version=1,
                                created_at=stamp(now()), updated_at=stamp(now()))
        try:
            await self.store.put_service(svc, 0)
        except Conflict as exc:
            raise errors.AlreadyExists(f"--name: {exc}") from exc
        return self._with_counts(svc)

    def list(self, stack: str = "") -> list[types_pb2.Service]:
        return sorted((self._with_counts(svc) for svc, _ in self.state.services.values()
                       if not stack or svc.spec.stack == stack), key=lambda s: s.spec.name)

    def inspect(self, ref: str) -> types_pb2.Service:
        return self._with_counts(self._resolve(ref)[0])

    def tasks(self, ref: str, all_: bool) -> list[types_pb2.Container]:
        svc, _ = self._resolve(ref)
        views = [self.state.container_view(t.id) for t in self.state.tasks_of(svc.id)]
        if not all_:
            views = [v for v in views if v.desired_state == "running" or v.note]
        return sorted(views, key=lambda t: (t.slot, t.node_name, t.desired_state != "running", t.created_at))

    async def _write(self, svc: types_pb2.Service, rev: int) -> types_pb2.Service:
        svc.updated_at = stamp(now())
        try:
            await self.store.put_service(svc, rev)
        except Conflict as exc:
            raise errors.FailedPrecondition(f"{exc}; retry") from exc
        return self._with_counts(svc)

    def _apply_spec(self, svc: types_pb2.Service, spec: types_pb2.ServiceSpec) -> bool:
        """Sets the new spec; a changed task template starts a rolling update. Returns whether anything changed."""
        if spec == svc.spec:
            return False
        if spec.mode != svc.spec.mode:
            raise errors.InvalidArgument("--mode: a service's mode cannot change; remove and create it again")
        if spec.task != svc.spec.task:
            svc.previous_spec.CopyFrom(svc.spec)
            svc.version += 1
            svc.update_status.CopyFrom(types_pb2.UpdateStatus(state="updating", started_at=stamp(now())))
        svc.spec.CopyFrom(spec)
        return True

    async def update(self, req: manager_pb2.UpdateServiceRequest) -> types_pb2.Service:
        svc, rev = self._resolve(req.ref)
        spec = types_pb2.ServiceSpec()
        spec.CopyFrom(req.spec)
        spec.name = svc.spec.name
        if not spec.stack:
            spec.stack = svc.spec.stack
        spec = self._validated(spec)
        if req.version and req.version != svc.version:
            raise errors.FailedPrecondition(f"service {svc.spec.name} changed since version {req.version}; retry")
        changed = self._apply_spec(svc, spec)
        if req.rebalance:
            svc.rebalance = True
        if not changed and not req.rebalance:
            return self._with_counts(svc)
        return await self._write(svc, rev)

    async def scale(self, ref: str, replicas: int) -> types_pb2.Service:
        svc, rev = self._resolve(ref)
        if svc.spec.mode == "global":
            raise errors.InvalidArgument(f"{svc.spec.name}: a global service cannot be scaled")
        if not 0 <= replicas <= MAX_REPLICAS:
            raise errors.InvalidArgument(f"{svc.spec.name}: replicas must be an integer from 0 to {MAX_REPLICAS}")
        svc.spec.replicas = replicas
        return await self._write(svc, rev)

    async def rollback(self, ref: str) -> types_pb2.Service:
        svc, rev = self._resolve(ref)
        if not svc.HasField("previous_spec") or not svc.previous_spec.name:
            raise errors.FailedPrecondition(f"service {svc.spec.name} has no previous spec to roll back to")
        current = types_pb2.ServiceSpec()
        current.CopyFrom(svc.spec)
        svc.spec.CopyFrom(svc.previous_spec)
        svc.previous_spec.CopyFrom(current)
        svc.version += 1
        svc.update_status.CopyFrom(types_pb2.UpdateStatus(state="rolling_back", started_at=stamp(now()),
                                                           message="manual rollback"))
        return await self._write(svc, rev)

    async def remove(self, ref: str) -> str:
        svc, rev = self._resolve(ref)
        try:
            await self.store.delete_service(svc.spec.name, rev)
        except Conflict as exc:
            raise errors.FailedPrecondition(f"{exc}; retry") from exc
        return svc.id

    # ---- stacks -----------------------------------------------------------
    async def deploy_stack(self, req: manager_pb2.DeployStackRequest) -> manager_pb2.DeployStackReply:
        try:
            check_name(req.name, "NAME")
        except InvalidField as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        # A stack's services share a default overlay network, so they find each other by name.
        default_net = f"{req.name}_default"
        wanted: dict[str, types_pb2.ServiceSpec] = {}
        for spec in req.services:
            full = types_pb2.ServiceSpec()
            full.CopyFrom(spec)
            full.name = f"{req.name}_{spec.name}"
            full.stack = req.name
            if not full.task.networks:
                full.task.networks.append(default_net)
            _defaults(full)
            try:
                check_service(full)
            except InvalidField as exc:
                path = STACK_PATHS.get(exc.field, exc.field)
                reason = str(exc)[len(exc.field) + 2:]
                raise errors.InvalidArgument(f"services.{spec.name}.{path}: {reason}") from exc
            for net in full.task.networks:
                if net != default_net and net not in self.state.networks:
                    raise errors.InvalidArgument(f'services.{spec.name}.networks: network "{net[:80]}" does not exist')
            wanted[full.name] = full
        for name in wanted:
            entry = self.state.services.get(name)
            if entry and entry[0].spec.stack != req.name:
                raise errors.AlreadyExists(f'services.{name}: a service "{name}" exists outside stack {req.name}')
        # Everything is valid: only now write, so a bad file deploys nothing.
        reply = manager_pb2.DeployStackReply()
        if default_net not in self.state.networks and any(default_net in s.task.networks for s in wanted.values()):
            await self.networks.create(manager_pb2.CreateNetworkRequest(name=default_net), stack=req.name)
        for name, spec in sorted(wanted.items()):
            entry = self.state.services.get(name)
            if entry is None:
                await self.create(spec)
                reply.created.append(name)
                continue
            svc, rev = self._resolve(name)
            if self._apply_spec(svc, spec):
                await self._write(svc, rev)
                reply.updated.append(name)
            else:
                reply.unchanged.append(name)
        if req.prune:
            for svc, _ in list(self.state.services.values()):
                if svc.spec.stack == req.name and svc.spec.name not in wanted:
                    await self.remove(svc.spec.name)
                    reply.removed.append(svc.spec.name)
        return reply

    def list_stacks(self) -> list[manager_pb2.Stack]:
        counts: dict[str, int] = {}
        for svc, _ in self.state.services.values():
            if svc.spec.stack:
                counts[svc.spec.stack] = counts.get(svc.spec.stack, 0) + 1
        return [manager_pb2.Stack(name=n, services=c) for n, c in sorted(counts.items())]

    async def remove_stack(self, name: str) -> list[str]:
        names = sorted(svc.spec.name for svc, _ in self.state.services.values() if svc.spec.stack == name)
        if not names:
            raise errors.NotFound(f'stack "{name}": no such stack')
        for n in names:
            await self.remove(n)
        return names
