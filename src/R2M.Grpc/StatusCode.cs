namespace R2M.Grpc;

/// <summary>
/// gRPC status codes (grpc/grpc doc/statuscodes.md, include/grpc/status.h). The numeric values are
/// wire values carried in the <c>grpc-status</c> trailer and must never change.
/// </summary>
public enum StatusCode
{
    OK = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}
