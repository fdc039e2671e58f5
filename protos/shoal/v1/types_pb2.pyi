from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_PENDING: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_COMPLETE: _ClassVar[TaskState]
    TASK_STATE_SHUTDOWN: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_REJECTED: _ClassVar[TaskState]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_NODE_DOWN: _ClassVar[EndReason]
    END_REASON_NODE_DRAINED: _ClassVar[EndReason]
    END_REASON_SCALED_DOWN: _ClassVar[EndReason]
    END_REASON_UPDATED: _ClassVar[EndReason]
    END_REASON_DUPLICATE: _ClassVar[EndReason]
    END_REASON_SERVICE_REMOVED: _ClassVar[EndReason]
    END_REASON_NOT_ELIGIBLE: _ClassVar[EndReason]
    END_REASON_REBALANCED: _ClassVar[EndReason]
    END_REASON_UPDATE_FAILED: _ClassVar[EndReason]
    END_REASON_STOPPED: _ClassVar[EndReason]
    END_REASON_COMPLETED: _ClassVar[EndReason]
    END_REASON_EXITED: _ClassVar[EndReason]
    END_REASON_UNHEALTHY: _ClassVar[EndReason]
    END_REASON_DISAPPEARED: _ClassVar[EndReason]
    END_REASON_REJECTED: _ClassVar[EndReason]
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_PENDING: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_COMPLETE: TaskState
TASK_STATE_SHUTDOWN: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_REJECTED: TaskState
END_REASON_UNSPECIFIED: EndReason
END_REASON_NODE_DOWN: EndReason
END_REASON_NODE_DRAINED: EndReason
END_REASON_SCALED_DOWN: EndReason
END_REASON_UPDATED: EndReason
END_REASON_DUPLICATE: EndReason
END_REASON_SERVICE_REMOVED: EndReason
END_REASON_NOT_ELIGIBLE: EndReason
END_REASON_REBALANCED: EndReason
END_REASON_UPDATE_FAILED: EndReason
END_REASON_STOPPED: EndReason
END_REASON_COMPLETED: EndReason
END_REASON_EXITED: EndReason
END_REASON_UNHEALTHY: EndReason
END_REASON_DISAPPEARED: EndReason
END_REASON_REJECTED: EndReason

class PortMapping(_message.Message):
    __slots__ = ("host_port", "container_port", "protocol", "host_ip")
    HOST_PORT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    host_port: int
    container_port: int
    protocol: str
    host_ip: str
    def __init__(self, host_port: _Optional[int] = ..., container_port: _Optional[int] = ..., protocol: _Optional[str] = ..., host_ip: _Optional[str] = ...) -> None: ...

class ContainerSpec(_message.Message):
    __slots__ = ("image", "command", "env", "ports", "memory_bytes", "nano_cpus", "labels", "constraints", "strategy", "health", "entrypoint", "networks", "secret_env", "reserve_memory_bytes", "reserve_nano_cpus", "user", "group_add", "cap_add", "cap_drop", "privileged", "read_only", "security_opt", "hostname", "dns", "dns_search", "dns_option", "extra_hosts", "workdir", "init", "stop_signal", "cpu_shares", "cpuset_cpus", "pids_limit", "ulimits", "sysctls", "shm_size_bytes", "tmpfs", "ipc", "pid", "mounts", "volumes_from", "publish_all", "expose", "pull", "platform", "restart", "restart_max_retries", "devices", "network_mode", "stop_timeout", "ipc_container", "volumes_from_ids", "tty", "open_stdin", "stdin_once")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SysctlsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ENV_FIELD_NUMBER: _ClassVar[int]
    RESERVE_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESERVE_NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    GROUP_ADD_FIELD_NUMBER: _ClassVar[int]
    CAP_ADD_FIELD_NUMBER: _ClassVar[int]
    CAP_DROP_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    SECURITY_OPT_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    DNS_SEARCH_FIELD_NUMBER: _ClassVar[int]
    DNS_OPTION_FIELD_NUMBER: _ClassVar[int]
    EXTRA_HOSTS_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    STOP_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    CPU_SHARES_FIELD_NUMBER: _ClassVar[int]
    CPUSET_CPUS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ULIMITS_FIELD_NUMBER: _ClassVar[int]
    SYSCTLS_FIELD_NUMBER: _ClassVar[int]
    SHM_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TMPFS_FIELD_NUMBER: _ClassVar[int]
    IPC_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FROM_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_ALL_FIELD_NUMBER: _ClassVar[int]
    EXPOSE_FIELD_NUMBER: _ClassVar[int]
    PULL_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    RESTART_MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_MODE_FIELD_NUMBER: _ClassVar[int]
    STOP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    IPC_CONTAINER_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FROM_IDS_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    OPEN_STDIN_FIELD_NUMBER: _ClassVar[int]
    STDIN_ONCE_FIELD_NUMBER: _ClassVar[int]
    image: str
    command: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    ports: _containers.RepeatedCompositeFieldContainer[PortMapping]
    memory_bytes: int
    nano_cpus: int
    labels: _containers.ScalarMap[str, str]
    constraints: _containers.RepeatedScalarFieldContainer[str]
    strategy: str
    health: HealthCheck
    entrypoint: _containers.RepeatedScalarFieldContainer[str]
    networks: _containers.RepeatedScalarFieldContainer[str]
    secret_env: _containers.RepeatedScalarFieldContainer[str]
    reserve_memory_bytes: int
    reserve_nano_cpus: int
    user: str
    group_add: _containers.RepeatedScalarFieldContainer[str]
    cap_add: _containers.RepeatedScalarFieldContainer[str]
    cap_drop: _containers.RepeatedScalarFieldContainer[str]
    privileged: bool
    read_only: bool
    security_opt: _containers.RepeatedScalarFieldContainer[str]
    hostname: str
    dns: _containers.RepeatedScalarFieldContainer[str]
    dns_search: _containers.RepeatedScalarFieldContainer[str]
    dns_option: _containers.RepeatedScalarFieldContainer[str]
    extra_hosts: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    init: bool
    stop_signal: str
    cpu_shares: int
    cpuset_cpus: str
    pids_limit: int
    ulimits: _containers.RepeatedCompositeFieldContainer[Ulimit]
    sysctls: _containers.ScalarMap[str, str]
    shm_size_bytes: int
    tmpfs: _containers.RepeatedCompositeFieldContainer[TmpfsMount]
    ipc: str
    pid: str
    mounts: _containers.RepeatedCompositeFieldContainer[Mount]
    volumes_from: _containers.RepeatedScalarFieldContainer[str]
    publish_all: bool
    expose: _containers.RepeatedScalarFieldContainer[str]
    pull: str
    platform: str
    restart: str
    restart_max_retries: int
    devices: _containers.RepeatedScalarFieldContainer[str]
    network_mode: str
    stop_timeout: int
    ipc_container: str
    volumes_from_ids: _containers.RepeatedScalarFieldContainer[str]
    tty: bool
    open_stdin: bool
    stdin_once: bool
    def __init__(self, image: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., ports: _Optional[_Iterable[_Union[PortMapping, _Mapping]]] = ..., memory_bytes: _Optional[int] = ..., nano_cpus: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., constraints: _Optional[_Iterable[str]] = ..., strategy: _Optional[str] = ..., health: _Optional[_Union[HealthCheck, _Mapping]] = ..., entrypoint: _Optional[_Iterable[str]] = ..., networks: _Optional[_Iterable[str]] = ..., secret_env: _Optional[_Iterable[str]] = ..., reserve_memory_bytes: _Optional[int] = ..., reserve_nano_cpus: _Optional[int] = ..., user: _Optional[str] = ..., group_add: _Optional[_Iterable[str]] = ..., cap_add: _Optional[_Iterable[str]] = ..., cap_drop: _Optional[_Iterable[str]] = ..., privileged: _Optional[bool] = ..., read_only: _Optional[bool] = ..., security_opt: _Optional[_Iterable[str]] = ..., hostname: _Optional[str] = ..., dns: _Optional[_Iterable[str]] = ..., dns_search: _Optional[_Iterable[str]] = ..., dns_option: _Optional[_Iterable[str]] = ..., extra_hosts: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., init: _Optional[bool] = ..., stop_signal: _Optional[str] = ..., cpu_shares: _Optional[int] = ..., cpuset_cpus: _Optional[str] = ..., pids_limit: _Optional[int] = ..., ulimits: _Optional[_Iterable[_Union[Ulimit, _Mapping]]] = ..., sysctls: _Optional[_Mapping[str, str]] = ..., shm_size_bytes: _Optional[int] = ..., tmpfs: _Optional[_Iterable[_Union[TmpfsMount, _Mapping]]] = ..., ipc: _Optional[str] = ..., pid: _Optional[str] = ..., mounts: _Optional[_Iterable[_Union[Mount, _Mapping]]] = ..., volumes_from: _Optional[_Iterable[str]] = ..., publish_all: _Optional[bool] = ..., expose: _Optional[_Iterable[str]] = ..., pull: _Optional[str] = ..., platform: _Optional[str] = ..., restart: _Optional[str] = ..., restart_max_retries: _Optional[int] = ..., devices: _Optional[_Iterable[str]] = ..., network_mode: _Optional[str] = ..., stop_timeout: _Optional[int] = ..., ipc_container: _Optional[str] = ..., volumes_from_ids: _Optional[_Iterable[str]] = ..., tty: _Optional[bool] = ..., open_stdin: _Optional[bool] = ..., stdin_once: _Optional[bool] = ...) -> None: ...

class Ulimit(_message.Message):
    __slots__ = ("name", "soft", "hard")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOFT_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    name: str
    soft: int
    hard: int
    def __init__(self, name: _Optional[str] = ..., soft: _Optional[int] = ..., hard: _Optional[int] = ...) -> None: ...

class TmpfsMount(_message.Message):
    __slots__ = ("target", "size_bytes", "mode", "options")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target: str
    size_bytes: int
    mode: int
    options: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[str] = ..., size_bytes: _Optional[int] = ..., mode: _Optional[int] = ..., options: _Optional[_Iterable[str]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("test", "interval_ns", "timeout_ns", "retries", "start_period_ns")
    TEST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_NS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_NS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    START_PERIOD_NS_FIELD_NUMBER: _ClassVar[int]
    test: _containers.RepeatedScalarFieldContainer[str]
    interval_ns: int
    timeout_ns: int
    retries: int
    start_period_ns: int
    def __init__(self, test: _Optional[_Iterable[str]] = ..., interval_ns: _Optional[int] = ..., timeout_ns: _Optional[int] = ..., retries: _Optional[int] = ..., start_period_ns: _Optional[int] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("state", "exit_code", "error", "runtime_id", "started_at", "finished_at", "ports", "health", "ip")
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    state: str
    exit_code: int
    error: str
    runtime_id: str
    started_at: str
    finished_at: str
    ports: _containers.RepeatedCompositeFieldContainer[PortMapping]
    health: str
    ip: str
    def __init__(self, state: _Optional[str] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., runtime_id: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[PortMapping, _Mapping]]] = ..., health: _Optional[str] = ..., ip: _Optional[str] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = ("id", "name", "spec", "node_id", "node_name", "desired_state", "status", "created_at", "service_id", "service_name", "slot", "spec_version", "restarts", "note", "not_before", "networks", "desired", "state", "end", "gave_up")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESIRED_STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    GAVE_UP_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    spec: ContainerSpec
    node_id: str
    node_name: str
    desired_state: str
    status: ContainerStatus
    created_at: str
    service_id: str
    service_name: str
    slot: int
    spec_version: int
    restarts: int
    note: str
    not_before: str
    networks: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    desired: TaskState
    state: TaskState
    end: EndReason
    gave_up: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., spec: _Optional[_Union[ContainerSpec, _Mapping]] = ..., node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., desired_state: _Optional[str] = ..., status: _Optional[_Union[ContainerStatus, _Mapping]] = ..., created_at: _Optional[str] = ..., service_id: _Optional[str] = ..., service_name: _Optional[str] = ..., slot: _Optional[int] = ..., spec_version: _Optional[int] = ..., restarts: _Optional[int] = ..., note: _Optional[str] = ..., not_before: _Optional[str] = ..., networks: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ..., desired: _Optional[_Union[TaskState, str]] = ..., state: _Optional[_Union[TaskState, str]] = ..., end: _Optional[_Union[EndReason, str]] = ..., gave_up: _Optional[bool] = ...) -> None: ...

class NetworkAttachment(_message.Message):
    __slots__ = ("network", "vni", "subnet", "ip")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    network: str
    vni: int
    subnet: str
    ip: str
    def __init__(self, network: _Optional[str] = ..., vni: _Optional[int] = ..., subnet: _Optional[str] = ..., ip: _Optional[str] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "name", "driver", "subnet", "vni", "created_at", "stack", "containers")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    driver: str
    subnet: str
    vni: int
    created_at: str
    stack: str
    containers: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., driver: _Optional[str] = ..., subnet: _Optional[str] = ..., vni: _Optional[int] = ..., created_at: _Optional[str] = ..., stack: _Optional[str] = ..., containers: _Optional[int] = ...) -> None: ...

class RestartPolicy(_message.Message):
    __slots__ = ("condition", "max_attempts", "delay_ns", "window_ns")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DELAY_NS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_NS_FIELD_NUMBER: _ClassVar[int]
    condition: str
    max_attempts: int
    delay_ns: int
    window_ns: int
    def __init__(self, condition: _Optional[str] = ..., max_attempts: _Optional[int] = ..., delay_ns: _Optional[int] = ..., window_ns: _Optional[int] = ...) -> None: ...

class UpdateConfig(_message.Message):
    __slots__ = ("parallelism", "delay_ns", "failure_action", "monitor_ns")
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    DELAY_NS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_ACTION_FIELD_NUMBER: _ClassVar[int]
    MONITOR_NS_FIELD_NUMBER: _ClassVar[int]
    parallelism: int
    delay_ns: int
    failure_action: str
    monitor_ns: int
    def __init__(self, parallelism: _Optional[int] = ..., delay_ns: _Optional[int] = ..., failure_action: _Optional[str] = ..., monitor_ns: _Optional[int] = ...) -> None: ...

class PlacementPreference(_message.Message):
    __slots__ = ("spread",)
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    spread: str
    def __init__(self, spread: _Optional[str] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("name", "mode", "replicas", "task", "restart", "update", "preferences", "stack", "stop_grace_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    STOP_GRACE_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: str
    replicas: int
    task: ContainerSpec
    restart: RestartPolicy
    update: UpdateConfig
    preferences: _containers.RepeatedCompositeFieldContainer[PlacementPreference]
    stack: str
    stop_grace_ns: int
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., replicas: _Optional[int] = ..., task: _Optional[_Union[ContainerSpec, _Mapping]] = ..., restart: _Optional[_Union[RestartPolicy, _Mapping]] = ..., update: _Optional[_Union[UpdateConfig, _Mapping]] = ..., preferences: _Optional[_Iterable[_Union[PlacementPreference, _Mapping]]] = ..., stack: _Optional[str] = ..., stop_grace_ns: _Optional[int] = ...) -> None: ...

class UpdateStatus(_message.Message):
    __slots__ = ("state", "message", "started_at", "completed_at")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    state: str
    message: str
    started_at: str
    completed_at: str
    def __init__(self, state: _Optional[str] = ..., message: _Optional[str] = ..., started_at: _Optional[str] = ..., completed_at: _Optional[str] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "spec", "previous_spec", "version", "update_status", "created_at", "updated_at", "running", "desired", "rebalance", "message", "pending", "pending_total")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    PENDING_TOTAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: ServiceSpec
    previous_spec: ServiceSpec
    version: int
    update_status: UpdateStatus
    created_at: str
    updated_at: str
    running: int
    desired: int
    rebalance: bool
    message: str
    pending: _containers.RepeatedCompositeFieldContainer[PendingTask]
    pending_total: int
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[ServiceSpec, _Mapping]] = ..., previous_spec: _Optional[_Union[ServiceSpec, _Mapping]] = ..., version: _Optional[int] = ..., update_status: _Optional[_Union[UpdateStatus, _Mapping]] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., running: _Optional[int] = ..., desired: _Optional[int] = ..., rebalance: _Optional[bool] = ..., message: _Optional[str] = ..., pending: _Optional[_Iterable[_Union[PendingTask, _Mapping]]] = ..., pending_total: _Optional[int] = ...) -> None: ...

class PendingTask(_message.Message):
    __slots__ = ("key", "name", "reason", "since")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    key: str
    name: str
    reason: str
    since: str
    def __init__(self, key: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ..., since: _Optional[str] = ...) -> None: ...

class NodeDescription(_message.Message):
    __slots__ = ("hostname", "os", "kernel", "architecture", "nano_cpus", "memory_bytes", "engine_version", "engine_labels", "agent_version", "container_subnet", "dns_address")
    class EngineLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_LABELS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_SUBNET_FIELD_NUMBER: _ClassVar[int]
    DNS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os: str
    kernel: str
    architecture: str
    nano_cpus: int
    memory_bytes: int
    engine_version: str
    engine_labels: _containers.ScalarMap[str, str]
    agent_version: str
    container_subnet: str
    dns_address: str
    def __init__(self, hostname: _Optional[str] = ..., os: _Optional[str] = ..., kernel: _Optional[str] = ..., architecture: _Optional[str] = ..., nano_cpus: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., engine_version: _Optional[str] = ..., engine_labels: _Optional[_Mapping[str, str]] = ..., agent_version: _Optional[str] = ..., container_subnet: _Optional[str] = ..., dns_address: _Optional[str] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "name", "address", "description", "labels", "availability", "state", "containers", "reserved_nano_cpus", "reserved_memory_bytes", "registered_at", "note")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    address: str
    description: NodeDescription
    labels: _containers.ScalarMap[str, str]
    availability: str
    state: str
    containers: int
    reserved_nano_cpus: int
    reserved_memory_bytes: int
    registered_at: str
    note: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., description: _Optional[_Union[NodeDescription, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., availability: _Optional[str] = ..., state: _Optional[str] = ..., containers: _Optional[int] = ..., reserved_nano_cpus: _Optional[int] = ..., reserved_memory_bytes: _Optional[int] = ..., registered_at: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("data", "stream")
    DATA_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    stream: str
    def __init__(self, data: _Optional[bytes] = ..., stream: _Optional[str] = ...) -> None: ...

class Mount(_message.Message):
    __slots__ = ("type", "source", "target", "readonly", "tmpfs_size_bytes", "driver", "driver_options", "volume_labels", "create_host_path")
    class DriverOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class VolumeLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    TMPFS_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    DRIVER_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATE_HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    type: str
    source: str
    target: str
    readonly: bool
    tmpfs_size_bytes: int
    driver: str
    driver_options: _containers.ScalarMap[str, str]
    volume_labels: _containers.ScalarMap[str, str]
    create_host_path: bool
    def __init__(self, type: _Optional[str] = ..., source: _Optional[str] = ..., target: _Optional[str] = ..., readonly: _Optional[bool] = ..., tmpfs_size_bytes: _Optional[int] = ..., driver: _Optional[str] = ..., driver_options: _Optional[_Mapping[str, str]] = ..., volume_labels: _Optional[_Mapping[str, str]] = ..., create_host_path: _Optional[bool] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("name", "driver", "node_id", "node_name", "labels", "options", "created_at", "implicit", "used_by")
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
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IMPLICIT_FIELD_NUMBER: _ClassVar[int]
    USED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    node_id: str
    node_name: str
    labels: _containers.ScalarMap[str, str]
    options: _containers.ScalarMap[str, str]
    created_at: str
    implicit: bool
    used_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., options: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[str] = ..., implicit: _Optional[bool] = ..., used_by: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamIn(_message.Message):
    __slots__ = ("open", "stdin", "stdin_close", "resize")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDIN_CLOSE_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    open: StreamOpen
    stdin: bytes
    stdin_close: bool
    resize: TerminalSize
    def __init__(self, open: _Optional[_Union[StreamOpen, _Mapping]] = ..., stdin: _Optional[bytes] = ..., stdin_close: _Optional[bool] = ..., resize: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class StreamOpen(_message.Message):
    __slots__ = ("ref", "stdin", "tty", "command", "user", "workdir", "env", "privileged", "start", "size", "logs")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    stdin: bool
    tty: bool
    command: _containers.RepeatedScalarFieldContainer[str]
    user: str
    workdir: str
    env: _containers.ScalarMap[str, str]
    privileged: bool
    start: bool
    size: TerminalSize
    logs: bool
    def __init__(self, ref: _Optional[str] = ..., stdin: _Optional[bool] = ..., tty: _Optional[bool] = ..., command: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., workdir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., privileged: _Optional[bool] = ..., start: _Optional[bool] = ..., size: _Optional[_Union[TerminalSize, _Mapping]] = ..., logs: _Optional[bool] = ...) -> None: ...

class TerminalSize(_message.Message):
    __slots__ = ("rows", "cols")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class StreamOut(_message.Message):
    __slots__ = ("stdout", "stderr", "exit", "ready")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    stdout: bytes
    stderr: bytes
    exit: StreamExit
    ready: StreamReady
    def __init__(self, stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., exit: _Optional[_Union[StreamExit, _Mapping]] = ..., ready: _Optional[_Union[StreamReady, _Mapping]] = ...) -> None: ...

class StreamReady(_message.Message):
    __slots__ = ("exec_id",)
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    def __init__(self, exec_id: _Optional[str] = ...) -> None: ...

class StreamExit(_message.Message):
    __slots__ = ("exit_code", "error", "detached")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETACHED_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    error: str
    detached: bool
    def __init__(self, exit_code: _Optional[int] = ..., error: _Optional[str] = ..., detached: _Optional[bool] = ...) -> None: ...

class RegistryAuth(_message.Message):
    __slots__ = ("server", "username", "password", "identity_token")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    server: str
    username: str
    password: str
    identity_token: str
    def __init__(self, server: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., identity_token: _Optional[str] = ...) -> None: ...

class ImageOnNode(_message.Message):
    __slots__ = ("node_id", "node_name", "id", "repo_tags", "repo_digests", "size_bytes", "created", "containers")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REPO_TAGS_FIELD_NUMBER: _ClassVar[int]
    REPO_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_name: str
    id: str
    repo_tags: _containers.RepeatedScalarFieldContainer[str]
    repo_digests: _containers.RepeatedScalarFieldContainer[str]
    size_bytes: int
    created: str
    containers: int
    def __init__(self, node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., id: _Optional[str] = ..., repo_tags: _Optional[_Iterable[str]] = ..., repo_digests: _Optional[_Iterable[str]] = ..., size_bytes: _Optional[int] = ..., created: _Optional[str] = ..., containers: _Optional[int] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("node_id", "node_name", "status", "layer", "current", "total", "done", "error")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_name: str
    status: str
    layer: str
    current: int
    total: int
    done: bool
    error: str
    def __init__(self, node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., status: _Optional[str] = ..., layer: _Optional[str] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., done: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ArchiveChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class PathStat(_message.Message):
    __slots__ = ("name", "size", "mode", "mtime", "link_target")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    LINK_TARGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    mode: int
    mtime: str
    link_target: str
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mtime: _Optional[str] = ..., link_target: _Optional[str] = ...) -> None: ...

class ContainerStats(_message.Message):
    __slots__ = ("id", "name", "node_name", "cpu_percent", "memory_bytes", "memory_limit_bytes", "net_rx_bytes", "net_tx_bytes", "block_read_bytes", "block_write_bytes", "pids", "read_at", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    node_name: str
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int
    read_at: str
    error: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., node_name: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., memory_limit_bytes: _Optional[int] = ..., net_rx_bytes: _Optional[int] = ..., net_tx_bytes: _Optional[int] = ..., block_read_bytes: _Optional[int] = ..., block_write_bytes: _Optional[int] = ..., pids: _Optional[int] = ..., read_at: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class TopReply(_message.Message):
    __slots__ = ("titles", "processes")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedScalarFieldContainer[str]
    processes: _containers.RepeatedCompositeFieldContainer[TopProcess]
    def __init__(self, titles: _Optional[_Iterable[str]] = ..., processes: _Optional[_Iterable[_Union[TopProcess, _Mapping]]] = ...) -> None: ...

class TopProcess(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fields: _Optional[_Iterable[str]] = ...) -> None: ...
