from shoal.protos.shoal.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunRequest(_message.Message):
    __slots__ = ("name", "spec", "registry_auth", "create_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    CREATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: _types_pb2.ContainerSpec
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    create_only: bool
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.ContainerSpec, _Mapping]] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ..., create_only: _Optional[bool] = ...) -> None: ...

class ListContainersRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class ContainerList(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[_types_pb2.Container]
    def __init__(self, containers: _Optional[_Iterable[_Union[_types_pb2.Container, _Mapping]]] = ...) -> None: ...

class ContainerRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class InspectContainerReply(_message.Message):
    __slots__ = ("container", "engine_json")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    ENGINE_JSON_FIELD_NUMBER: _ClassVar[int]
    container: _types_pb2.Container
    engine_json: str
    def __init__(self, container: _Optional[_Union[_types_pb2.Container, _Mapping]] = ..., engine_json: _Optional[str] = ...) -> None: ...

class StopRequest(_message.Message):
    __slots__ = ("ref", "timeout_seconds")
    REF_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    timeout_seconds: int
    def __init__(self, ref: _Optional[str] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("ref", "force")
    REF_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    force: bool
    def __init__(self, ref: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveReply(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("ref", "follow", "tail")
    REF_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    ref: str
    follow: bool
    tail: int
    def __init__(self, ref: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ...) -> None: ...

class WaitReply(_message.Message):
    __slots__ = ("exit_code", "error")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    error: str
    def __init__(self, exit_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeList(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_types_pb2.Node, _Mapping]]] = ...) -> None: ...

class NodeRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("ref", "label_add", "label_rm", "availability")
    class LabelAddEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    LABEL_ADD_FIELD_NUMBER: _ClassVar[int]
    LABEL_RM_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    ref: str
    label_add: _containers.ScalarMap[str, str]
    label_rm: _containers.RepeatedScalarFieldContainer[str]
    availability: str
    def __init__(self, ref: _Optional[str] = ..., label_add: _Optional[_Mapping[str, str]] = ..., label_rm: _Optional[_Iterable[str]] = ..., availability: _Optional[str] = ...) -> None: ...

class CreateServiceRequest(_message.Message):
    __slots__ = ("spec", "registry_auth")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    spec: _types_pb2.ServiceSpec
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    def __init__(self, spec: _Optional[_Union[_types_pb2.ServiceSpec, _Mapping]] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("stack",)
    STACK_FIELD_NUMBER: _ClassVar[int]
    stack: str
    def __init__(self, stack: _Optional[str] = ...) -> None: ...

class ServiceList(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_types_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_types_pb2.Service, _Mapping]]] = ...) -> None: ...

class ServiceRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class ServiceTasksRequest(_message.Message):
    __slots__ = ("ref", "all")
    REF_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    ref: str
    all: bool
    def __init__(self, ref: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("ref", "spec", "version", "rebalance", "registry_auth")
    REF_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    ref: str
    spec: _types_pb2.ServiceSpec
    version: int
    rebalance: bool
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    def __init__(self, ref: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.ServiceSpec, _Mapping]] = ..., version: _Optional[int] = ..., rebalance: _Optional[bool] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ...) -> None: ...

class ScaleServiceRequest(_message.Message):
    __slots__ = ("ref", "replicas")
    REF_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    replicas: int
    def __init__(self, ref: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class DeployStackRequest(_message.Message):
    __slots__ = ("name", "services", "prune", "registry_auth")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    PRUNE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    services: _containers.RepeatedCompositeFieldContainer[_types_pb2.ServiceSpec]
    prune: bool
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    def __init__(self, name: _Optional[str] = ..., services: _Optional[_Iterable[_Union[_types_pb2.ServiceSpec, _Mapping]]] = ..., prune: _Optional[bool] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ...) -> None: ...

class DeployStackReply(_message.Message):
    __slots__ = ("created", "updated", "unchanged", "removed")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    created: _containers.RepeatedScalarFieldContainer[str]
    updated: _containers.RepeatedScalarFieldContainer[str]
    unchanged: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, created: _Optional[_Iterable[str]] = ..., updated: _Optional[_Iterable[str]] = ..., unchanged: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ...) -> None: ...

class ListStacksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Stack(_message.Message):
    __slots__ = ("name", "services")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    services: int
    def __init__(self, name: _Optional[str] = ..., services: _Optional[int] = ...) -> None: ...

class StackList(_message.Message):
    __slots__ = ("stacks",)
    STACKS_FIELD_NUMBER: _ClassVar[int]
    stacks: _containers.RepeatedCompositeFieldContainer[Stack]
    def __init__(self, stacks: _Optional[_Iterable[_Union[Stack, _Mapping]]] = ...) -> None: ...

class StackRef(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveStackReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, removed: _Optional[_Iterable[str]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ManagerStatus(_message.Message):
    __slots__ = ("id", "address", "leader", "leader_id", "leader_address", "term")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    leader: bool
    leader_id: str
    leader_address: str
    term: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., leader: _Optional[bool] = ..., leader_id: _Optional[str] = ..., leader_address: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("name", "driver", "subnet")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    subnet: str
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., subnet: _Optional[str] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NetworkList(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[_types_pb2.Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[_types_pb2.Network, _Mapping]]] = ...) -> None: ...

class NetworkRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("ref", "force")
    REF_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    force: bool
    def __init__(self, ref: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("token", "role", "node_id", "csr")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CSR_FIELD_NUMBER: _ClassVar[int]
    token: str
    role: str
    node_id: str
    csr: bytes
    def __init__(self, token: _Optional[str] = ..., role: _Optional[str] = ..., node_id: _Optional[str] = ..., csr: _Optional[bytes] = ...) -> None: ...

class JoinReply(_message.Message):
    __slots__ = ("certificate", "ca", "ca_key", "common_name")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CA_FIELD_NUMBER: _ClassVar[int]
    CA_KEY_FIELD_NUMBER: _ClassVar[int]
    COMMON_NAME_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    ca: bytes
    ca_key: bytes
    common_name: str
    def __init__(self, certificate: _Optional[bytes] = ..., ca: _Optional[bytes] = ..., ca_key: _Optional[bytes] = ..., common_name: _Optional[str] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("csr",)
    CSR_FIELD_NUMBER: _ClassVar[int]
    csr: bytes
    def __init__(self, csr: _Optional[bytes] = ...) -> None: ...

class JoinTokenRequest(_message.Message):
    __slots__ = ("role", "rotate")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROTATE_FIELD_NUMBER: _ClassVar[int]
    role: str
    rotate: bool
    def __init__(self, role: _Optional[str] = ..., rotate: _Optional[bool] = ...) -> None: ...

class JoinTokenReply(_message.Message):
    __slots__ = ("role", "token")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    role: str
    token: str
    def __init__(self, role: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class CreateVolumeRequest(_message.Message):
    __slots__ = ("name", "driver", "labels", "node", "options")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    labels: _containers.ScalarMap[str, str]
    node: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., node: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListVolumesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VolumeList(_message.Message):
    __slots__ = ("volumes",)
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Volume]
    def __init__(self, volumes: _Optional[_Iterable[_Union[_types_pb2.Volume, _Mapping]]] = ...) -> None: ...

class VolumeRef(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveVolumeRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class KillRequest(_message.Message):
    __slots__ = ("ref", "signal")
    REF_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ref: str
    signal: str
    def __init__(self, ref: _Optional[str] = ..., signal: _Optional[str] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("ref", "name")
    REF_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ref: str
    name: str
    def __init__(self, ref: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class TopRequest(_message.Message):
    __slots__ = ("ref", "ps_args")
    REF_FIELD_NUMBER: _ClassVar[int]
    PS_ARGS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    ps_args: str
    def __init__(self, ref: _Optional[str] = ..., ps_args: _Optional[str] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("refs", "stream", "all")
    REFS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.RepeatedScalarFieldContainer[str]
    stream: bool
    all: bool
    def __init__(self, refs: _Optional[_Iterable[str]] = ..., stream: _Optional[bool] = ..., all: _Optional[bool] = ...) -> None: ...

class CopyFromRequest(_message.Message):
    __slots__ = ("ref", "path")
    REF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ref: str
    path: str
    def __init__(self, ref: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class CopyOut(_message.Message):
    __slots__ = ("stat", "chunk")
    STAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    stat: _types_pb2.PathStat
    chunk: _types_pb2.ArchiveChunk
    def __init__(self, stat: _Optional[_Union[_types_pb2.PathStat, _Mapping]] = ..., chunk: _Optional[_Union[_types_pb2.ArchiveChunk, _Mapping]] = ...) -> None: ...

class CopyIn(_message.Message):
    __slots__ = ("to", "chunk")
    TO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    to: CopyTarget
    chunk: _types_pb2.ArchiveChunk
    def __init__(self, to: _Optional[_Union[CopyTarget, _Mapping]] = ..., chunk: _Optional[_Union[_types_pb2.ArchiveChunk, _Mapping]] = ...) -> None: ...

class CopyTarget(_message.Message):
    __slots__ = ("ref", "path", "copy_uid_gid")
    REF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    COPY_UID_GID_FIELD_NUMBER: _ClassVar[int]
    ref: str
    path: str
    copy_uid_gid: bool
    def __init__(self, ref: _Optional[str] = ..., path: _Optional[str] = ..., copy_uid_gid: _Optional[bool] = ...) -> None: ...

class CopyToReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("node", "all")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    node: str
    all: bool
    def __init__(self, node: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class ImageList(_message.Message):
    __slots__ = ("images", "unreachable")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[_types_pb2.ImageOnNode]
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, images: _Optional[_Iterable[_Union[_types_pb2.ImageOnNode, _Mapping]]] = ..., unreachable: _Optional[_Iterable[str]] = ...) -> None: ...

class PullImageRequest(_message.Message):
    __slots__ = ("image", "node", "platform", "registry_auth")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    image: str
    node: str
    platform: str
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    def __init__(self, image: _Optional[str] = ..., node: _Optional[str] = ..., platform: _Optional[str] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ...) -> None: ...

class LoadImageIn(_message.Message):
    __slots__ = ("to", "chunk")
    TO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    to: LoadTarget
    chunk: _types_pb2.ArchiveChunk
    def __init__(self, to: _Optional[_Union[LoadTarget, _Mapping]] = ..., chunk: _Optional[_Union[_types_pb2.ArchiveChunk, _Mapping]] = ...) -> None: ...

class LoadTarget(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveImageRequest(_message.Message):
    __slots__ = ("image", "node", "force")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    image: str
    node: str
    force: bool
    def __init__(self, image: _Optional[str] = ..., node: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveImageReply(_message.Message):
    __slots__ = ("removed", "errors")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneImagesRequest(_message.Message):
    __slots__ = ("all", "node")
    ALL_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    all: bool
    node: str
    def __init__(self, all: _Optional[bool] = ..., node: _Optional[str] = ...) -> None: ...

class PruneImagesReply(_message.Message):
    __slots__ = ("deleted", "reclaimed_bytes", "errors")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    RECLAIMED_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    reclaimed_bytes: int
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., reclaimed_bytes: _Optional[int] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...
