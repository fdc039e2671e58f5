"""Service and stack operations: validate, then write the desired state. The reconciler
and the updater (on the leader) do the rest."""
from __future__ import annotations

import secrets

from shoal.manager import errors, redact
from shoal.manager.networks import NetworkOps, check_networks
from shoal.manager.registry_auths import RegistryAuths
from shoal.manager.state import ClusterState, UnknownRef
from shoal.manager.store import Conflict, Store
from shoal.manager.clock import now, stamp
from shoal.manager.validation import (
    MAX_REPLICAS, MODES, STACK_PATHS, apply_service_defaults, check_deploy_stack, check_list_services,
    check_name, check_ref, check_replicas, check_service, check_update_service, show, stack_network,
)
from shoal.protos import task_states
from shoal.protos.shoal.v1 import manager_pb2, types_pb2

# Kept importable from here for callers of the old location; the checks live in validation.py.
__all__ = ["MAX_REPLICAS", "MODES", "STACK_PATHS", "ServiceOps", "check_service"]


class ServiceOps:
    def __init__(self, state: ClusterState, store: Store, networks: "NetworkOps",
                 auths: RegistryAuths | None = None):
        self.auths = auths or RegistryAuths()   # --with-registry-auth: memory only (registry_auths.py)
        self.state = state
        self.store = store
        self.networks = networks

    def _resolve(self, ref: str) -> tuple[types_pb2.Service, int]:
        errors.checked(check_ref, ref, "SERVICE")
        try:
            name = self.state.resolve_service(ref)
        except UnknownRef as exc:
            raise errors.NotFound(str(exc)) from exc
        svc, rev = self.state.services[name]
        copy = types_pb2.Service()
        copy.CopyFrom(svc)
        return copy, rev

    def _with_counts(self, svc: types_pb2.Service) -> types_pb2.Service:
        """What a reply shows: a redacted copy with the live counts filled in."""
        view = redact.service(svc)
        live = [t for t in self.state.tasks_of(svc.id) if task_states.is_live(t)]
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
        apply_service_defaults(clean)
        errors.checked(check_service, clean)
        check_networks(self.state, list(clean.task.networks))
        return clean

    async def create(self, spec: types_pb2.ServiceSpec, auths=()) -> types_pb2.Service:
        spec = self._validated(spec)
        if spec.name in self.state.services:
            raise errors.AlreadyExists(f'--name: service "{spec.name}" already exists')
        svc = types_pb2.Service(id=secrets.token_hex(12), spec=spec, version=1,
                                created_at=stamp(now()), updated_at=stamp(now()))
        try:
            await self.store.put_service(svc, 0)
        except Conflict as exc:
            raise errors.AlreadyExists(f"--name: {exc}") from exc
        self.auths.remember(svc.id, spec.task.image, auths)
        return self._with_counts(svc)

    def list(self, stack: str = "") -> list[types_pb2.Service]:
        errors.checked(check_list_services, manager_pb2.ListServicesRequest(stack=stack))
        return sorted((self._with_counts(svc) for svc, _ in self.state.services.values()
                       if not stack or svc.spec.stack == stack), key=lambda s: s.spec.name)

    def inspect(self, ref: str) -> types_pb2.Service:
        return self._with_counts(self._resolve(ref)[0])

    def tasks(self, ref: str, all_: bool) -> list[types_pb2.Container]:
        svc, _ = self._resolve(ref)
        views = [redact.container(self.state.container_view(t.id)) for t in self.state.tasks_of(svc.id)]
        if not all_:
            views = [v for v in views if task_states.is_live(v) or v.note]
        views += self._unplaced(svc, views)
        return sorted(views, key=lambda t: (t.slot, t.node_name, not task_states.is_live(t), t.created_at))

    @staticmethod
    def _unplaced(svc: types_pb2.Service, views: list[types_pb2.Container]) -> list[types_pb2.Container]:
        """A row per task the scheduler could not place (as swarm mode lists a pending task with its
        reason): no id and no node, the reason as its error. A slot that has a live task since is not shown."""
        live = {str(v.slot) if svc.spec.mode != "global" else v.node_id for v in views if task_states.is_live(v)}
        rows = []
        for p in svc.pending:
            if p.key in live:
                continue
            row = types_pb2.Container(
                name=p.name, service_id=svc.id, service_name=svc.spec.name, desired_state="running",
                slot=int(p.key) if svc.spec.mode != "global" and p.key.isdigit() else 0,
                node_id=p.key if svc.spec.mode == "global" else "", note=p.reason, created_at=p.since,
                spec=svc.spec.task, status=types_pb2.ContainerStatus(state="pending"))
            rows.append(redact.container(row))
        return rows

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
        errors.checked(check_update_service, req)
        svc, rev = self._resolve(req.ref)
        spec = types_pb2.ServiceSpec()
        spec.CopyFrom(req.spec)
        spec.name = svc.spec.name
        if not spec.stack:
            spec.stack = svc.spec.stack
        # A spec edited from what InspectService showed carries "<secret>" for the secret
        # values: those mean "unchanged", never the new value.
        redact.restore(spec.task, svc.spec.task)
        spec = self._validated(spec)
        if req.version and req.version != svc.version:
            raise errors.FailedPrecondition(f"service {svc.spec.name} changed since version {req.version}; retry")
        changed = self._apply_spec(svc, spec)
        self.auths.remember(svc.id, svc.spec.task.image, req.registry_auth)
        if req.rebalance:
            svc.rebalance = True
        if not changed and not req.rebalance:
            return self._with_counts(svc)
        return await self._write(svc, rev)

    async def scale(self, ref: str, replicas: int) -> types_pb2.Service:
        errors.checked(check_replicas, replicas)
        svc, rev = self._resolve(ref)
        if svc.spec.mode == "global":
            raise errors.InvalidArgument(f"SERVICE: {svc.spec.name} is a global service; it cannot be scaled")
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
        self.auths.forget(svc.id)
        return svc.id

    # ---- stacks -----------------------------------------------------------
    async def deploy_stack(self, req: manager_pb2.DeployStackRequest) -> manager_pb2.DeployStackReply:
        # A stack's services share a default overlay network, so they find each other by name.
        wanted = errors.checked(check_deploy_stack, req)
        default_net = stack_network(req.name)
        for full in wanted.values():
            for net in full.task.networks:
                if net != default_net and net not in self.state.networks:
                    short = full.name[len(req.name) + 1:]
                    raise errors.InvalidArgument(f'services.{short}.networks: network "{show(net)}" does not exist')
        for name, spec in wanted.items():
            entry = self.state.services.get(name)
            if entry and entry[0].spec.stack != req.name:
                raise errors.AlreadyExists(f'services.{name}: a service "{name}" exists outside stack {req.name}')
            if entry and entry[0].spec.mode != spec.mode:
                # Found now, not halfway through the writes below.
                raise errors.InvalidArgument(f"services.{name[len(req.name) + 1:]}.deploy.mode: a service's mode "
                                             f"cannot change; remove it from the stack and deploy again")
        # Everything is valid: only now write, so a bad file deploys nothing.
        reply = manager_pb2.DeployStackReply()
        if default_net not in self.state.networks and any(default_net in s.task.networks for s in wanted.values()):
            await self.networks.create(manager_pb2.CreateNetworkRequest(name=default_net), stack=req.name)
        for name, spec in sorted(wanted.items()):
            entry = self.state.services.get(name)
            if entry is None:
                await self.create(spec, req.registry_auth)
                reply.created.append(name)
                continue
            svc, rev = self._resolve(name)
            self.auths.remember(svc.id, spec.task.image, req.registry_auth)
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
        errors.checked(check_name, name, "NAME")
        names = sorted(svc.spec.name for svc, _ in self.state.services.values() if svc.spec.stack == name)
        if not names:
            raise errors.NotFound(f'stack "{name}": no such stack')
        for n in names:
            await self.remove(n)
        return names
