using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal;

/// <summary>
/// Turns a failure into the status a client gets (through <see cref="ErrorMap"/>) and logs it once:
/// a client that went away at debug without a stack trace; a rejected request at information; every
/// INTERNAL status carries a fresh error id ("error id 0123456789abcdef") that its log line carries
/// too, with the exception when the fault is the server's. Used for whole calls
/// (<see cref="CallInterceptor"/>) and for Score's in-band item errors.
/// </summary>
internal sealed class ErrorReporter(R2MServerOptions options, ILogger<ErrorReporter> logger)
{
    /// <summary>The status of a call that ended with <paramref name="e"/>, logged.</summary>
    public Status ForCall(string method, Exception e, bool callCancelled)
    {
        var status = ErrorMap.ToStatus(e, callCancelled, options.DetailedErrors);
        switch (status.StatusCode)
        {
            case StatusCode.Cancelled:
                ServerLog.CallCancelled(logger, method, e.Message);
                return status;
            case StatusCode.Internal:
                var id = NewErrorId();
                if (ErrorMap.IsServerFault(e, status)) ServerLog.CallFailed(logger, method, id, e);
                else ServerLog.CallRejected(logger, method, status.StatusCode, $"{status.Detail} (error id {id})");
                return WithId(status, id);
            default:
                ServerLog.CallRejected(logger, method, status.StatusCode, status.Detail);
                return status;
        }
    }

    /// <summary>The in-band status of Score item <paramref name="itemId"/>; an INTERNAL one is logged with its error id.</summary>
    public Status ForItem(string method, string itemId, Exception e)
    {
        var status = ErrorMap.ToStatus(e, callCancelled: false, options.DetailedErrors);
        if (status.StatusCode != StatusCode.Internal) return status;
        var id = NewErrorId();
        ServerLog.ItemFailed(logger, method, itemId, id, e);
        return WithId(status, id);
    }

    /// <summary>64 random bits as 16 hex digits: unique enough to find one log line, and says nothing about the server.</summary>
    private static string NewErrorId() => RandomNumberGenerator.GetHexString(16, lowercase: true);

    private static Status WithId(Status status, string id) => new(status.StatusCode, $"{status.Detail} (error id {id})");
}
