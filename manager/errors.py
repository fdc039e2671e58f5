"""Errors the API turns into gRPC status codes. Messages are one line, naming the field or object."""
import grpc


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
