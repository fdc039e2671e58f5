"""Secret environment values (ContainerSpec.secret_env): hidden in every answer the manager
gives, kept in the stored record (the agent needs them to start the container).

Every reply that carries a spec goes through container() or service(), which redact a COPY;
the records in ClusterState and etcd are never touched. A client that sends a redacted spec
back (`shoal service update` edits what InspectService showed) gets the stored values
restored by restore() before anything is validated or stored: "<secret>" for a key the
stored spec holds as secret means "keep the stored value"."""
from __future__ import annotations

import json

from shoal.manager.validation import SECRET_PLACEHOLDER
from shoal.protos.shoal.v1 import types_pb2

PLACEHOLDER = SECRET_PLACEHOLDER


def _redact_spec(spec: types_pb2.ContainerSpec, keys) -> None:
    for key in keys:
        if key in spec.env:
            spec.env[key] = PLACEHOLDER


def container(c: types_pb2.Container) -> types_pb2.Container:
    """A copy of a container (or task) record fit to be shown."""
    view = types_pb2.Container()
    view.CopyFrom(c)
    _redact_spec(view.spec, set(view.spec.secret_env))
    return view


def containers(items) -> list[types_pb2.Container]:
    return [container(c) for c in items]


def service(s: types_pb2.Service) -> types_pb2.Service:
    """A copy of a service fit to be shown: its spec and its previous spec, each by its own
    secret keys (so whatever a client sends back, restore() can tell a placeholder from a value)."""
    view = types_pb2.Service()
    view.CopyFrom(s)
    _redact_spec(view.spec.task, set(view.spec.task.secret_env))
    _redact_spec(view.previous_spec.task, set(view.previous_spec.task.secret_env))
    return view


def engine_json(doc: str, keys) -> str:
    """The engine's inspect document with the secret entries of Config.Env redacted. A document
    that cannot be read is dropped rather than passed on with its secrets."""
    keys = set(keys)
    if not doc or not keys:
        return doc
    try:
        data = json.loads(doc)
        env = (data.get("Config") or {}).get("Env")
    except (ValueError, AttributeError):
        return ""
    if not env:
        return doc
    if not isinstance(env, list):
        return ""
    data["Config"]["Env"] = [
        f"{str(item).partition('=')[0]}={PLACEHOLDER}" if str(item).partition("=")[0] in keys else item
        for item in env
    ]
    return json.dumps(data, sort_keys=True)


def restore(new: types_pb2.ContainerSpec, stored: types_pb2.ContainerSpec) -> None:
    """Puts the stored value back wherever a new spec sends the placeholder for a key the
    stored spec holds as secret; that key stays secret. Any other placeholder is left for
    validation to refuse (there is no stored value behind it)."""
    secret = set(stored.secret_env)
    for key in [k for k, v in new.env.items() if v == PLACEHOLDER and k in secret and k in stored.env]:
        new.env[key] = stored.env[key]
        if key not in new.secret_env:
            new.secret_env.append(key)
