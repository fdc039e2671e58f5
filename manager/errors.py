"""Errors the API turns into gRPC status codes. Messages are one line, naming the field or object."""
from collections.abc import Callable
from typing import TypeVar

import grpc

from shoal.manager.validation import InvalidField

T = TypeVar("T")


class ApiError(Exception):
    code = grpc.StatusCode.INTERNAL


class InvalidArgument(ApiError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ApiError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ApiError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ApiError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ApiError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(ApiError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(ApiError):
    code = grpc.StatusCode.UNAUTHENTICATED


def checked(check: Callable[..., T], *args: object) -> T:
    """Runs a validation.py check (pure, raising InvalidField); a bad value is the caller's
    INVALID_ARGUMENT. The one bridge from the boundary's checks to the API's errors."""
    try:
        return check(*args)
    except InvalidField as exc:
        raise InvalidArgument(str(exc)) from exc
