from shoal.protos.shoal.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateContainerRequest(_message.Message):
    __slots__ = ("id", "name", "spec", "service", "networks", "registry_auth", "no_start")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    NO_START_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    spec: _types_pb2.ContainerSpec
    service: str
    networks: _containers.RepeatedCompositeFieldContainer[_types_pb2.NetworkAttachment]
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    no_start: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.ContainerSpec, _Mapping]] = ..., service: _Optional[str] = ..., networks: _Optional[_Iterable[_Union[_types_pb2.NetworkAttachment, _Mapping]]] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ..., no_start: _Optional[bool] = ...) -> None: ...

class CreateContainersRequest(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[CreateContainerRequest]
    def __init__(self, containers: _Optional[_Iterable[_Union[CreateContainerRequest, _Mapping]]] = ...) -> None: ...

class CreateResult(_message.Message):
    __slots__ = ("id", "status", "error", "invalid")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: _types_pb2.ContainerStatus
    error: str
    invalid: bool
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[_types_pb2.ContainerStatus, _Mapping]] = ..., error: _Optional[str] = ..., invalid: _Optional[bool] = ...) -> None: ...

class CreateContainersReply(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CreateResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CreateResult, _Mapping]]] = ...) -> None: ...

class AgentContainerRef(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StopContainerRequest(_message.Message):
    __slots__ = ("id", "timeout_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    timeout_seconds: int
    def __init__(self, id: _Optional[str] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class RemoveContainerRequest(_message.Message):
    __slots__ = ("id", "force")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    force: bool
    def __init__(self, id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveContainerReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class AgentListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentContainer(_message.Message):
    __slots__ = ("id", "name", "image", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    image: str
    status: _types_pb2.ContainerStatus
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., image: _Optional[str] = ..., status: _Optional[_Union[_types_pb2.ContainerStatus, _Mapping]] = ...) -> None: ...

class AgentContainerList(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[AgentContainer]
    def __init__(self, containers: _Optional[_Iterable[_Union[AgentContainer, _Mapping]]] = ...) -> None: ...

class AgentInspectReply(_message.Message):
    __slots__ = ("container", "engine_json")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    ENGINE_JSON_FIELD_NUMBER: _ClassVar[int]
    container: AgentContainer
    engine_json: str
    def __init__(self, container: _Optional[_Union[AgentContainer, _Mapping]] = ..., engine_json: _Optional[str] = ...) -> None: ...

class AgentLogsRequest(_message.Message):
    __slots__ = ("id", "follow", "tail")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    follow: bool
    tail: int
    def __init__(self, id: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ...) -> None: ...

class DescribeNodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentVolumeRef(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveVolumeReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class AgentKillRequest(_message.Message):
    __slots__ = ("id", "signal")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal: str
    def __init__(self, id: _Optional[str] = ..., signal: _Optional[str] = ...) -> None: ...

class AgentTopRequest(_message.Message):
    __slots__ = ("id", "ps_args")
    ID_FIELD_NUMBER: _ClassVar[int]
    PS_ARGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    ps_args: str
    def __init__(self, id: _Optional[str] = ..., ps_args: _Optional[str] = ...) -> None: ...

class AgentStatsRequest(_message.Message):
    __slots__ = ("ids", "stream")
    IDS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    stream: bool
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., stream: _Optional[bool] = ...) -> None: ...

class AgentCopyFromRequest(_message.Message):
    __slots__ = ("id", "path")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class AgentCopyOut(_message.Message):
    __slots__ = ("stat", "chunk")
    STAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    stat: _types_pb2.PathStat
    chunk: _types_pb2.ArchiveChunk
    def __init__(self, stat: _Optional[_Union[_types_pb2.PathStat, _Mapping]] = ..., chunk: _Optional[_Union[_types_pb2.ArchiveChunk, _Mapping]] = ...) -> None: ...

class AgentCopyIn(_message.Message):
    __slots__ = ("to", "chunk")
    TO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    to: AgentCopyTarget
    chunk: _types_pb2.ArchiveChunk
    def __init__(self, to: _Optional[_Union[AgentCopyTarget, _Mapping]] = ..., chunk: _Optional[_Union[_types_pb2.ArchiveChunk, _Mapping]] = ...) -> None: ...

class AgentCopyTarget(_message.Message):
    __slots__ = ("id", "path", "copy_uid_gid")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    COPY_UID_GID_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    copy_uid_gid: bool
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., copy_uid_gid: _Optional[bool] = ...) -> None: ...

class AgentCopyToReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentListImagesRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class AgentImageList(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[_types_pb2.ImageOnNode]
    def __init__(self, images: _Optional[_Iterable[_Union[_types_pb2.ImageOnNode, _Mapping]]] = ...) -> None: ...

class AgentPullRequest(_message.Message):
    __slots__ = ("image", "platform", "registry_auth")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    image: str
    platform: str
    registry_auth: _containers.RepeatedCompositeFieldContainer[_types_pb2.RegistryAuth]
    def __init__(self, image: _Optional[str] = ..., platform: _Optional[str] = ..., registry_auth: _Optional[_Iterable[_Union[_types_pb2.RegistryAuth, _Mapping]]] = ...) -> None: ...

class AgentRemoveImageRequest(_message.Message):
    __slots__ = ("image", "force")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    image: str
    force: bool
    def __init__(self, image: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class AgentRemoveImageReply(_message.Message):
    __slots__ = ("untagged", "deleted")
    UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    untagged: _containers.RepeatedScalarFieldContainer[str]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, untagged: _Optional[_Iterable[str]] = ..., deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentPruneImagesRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class AgentPruneImagesReply(_message.Message):
    __slots__ = ("deleted", "reclaimed_bytes")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    RECLAIMED_BYTES_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    reclaimed_bytes: int
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., reclaimed_bytes: _Optional[int] = ...) -> None: ...
