using Google.Protobuf;

namespace R2M.Server.Internal;

/// <summary>
/// Replies of the last <see cref="Capacity"/> Optimize and Update calls that carried a request_id
/// (policy.proto OptimizeConfig.request_id, reward_model.proto UpdateConfig.request_id). A client
/// whose reply was lost re-sends the call with the same id and gets the first reply instead of a
/// second application. Used under <see cref="WriteGate"/>, which every write holds, so
/// a re-send that arrives while the first call still runs waits for it and then finds its reply.
/// </summary>
internal sealed class WriteReplies
{
    public const int Capacity = 256;

    private readonly Dictionary<string, IMessage> _replies = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly Lock _lock = new();

    /// <summary>INVALID_ARGUMENT (via <see cref="InvalidInputException"/>) for an id over <see cref="RequestLimits.MaxIdLength"/> characters.</summary>
    public static void Validate(string field, string requestId) => RequestLimits.CheckId(field, requestId);

    /// <summary>A copy of the remembered reply of call <paramref name="requestId"/> of this kind; false for an empty or unknown id.</summary>
    public bool TryGet<T>(string kind, string requestId, out T reply)
        where T : class, IMessage<T>, IDeepCloneable<T>
    {
        reply = null!;
        if (requestId.Length == 0)
        {
            return false;
        }

        lock (_lock)
        {
            if (_replies.TryGetValue(Key(kind, requestId), out var found))
            {
                reply = ((T)found).Clone();
                return true;
            }
        }

        return false;
    }

    /// <summary>Remembers a copy of the reply of call <paramref name="requestId"/> (nothing for an empty id), forgetting the oldest past capacity.</summary>
    public void Remember<T>(string kind, string requestId, T reply)
        where T : class, IMessage<T>, IDeepCloneable<T>
    {
        if (requestId.Length == 0)
        {
            return;
        }

        var key = Key(kind, requestId);
        lock (_lock)
        {
            if (_replies.TryAdd(key, reply.Clone()))
            {
                _order.Enqueue(key);
            }

            while (_order.Count > Capacity)
            {
                _replies.Remove(_order.Dequeue());
            }
        }
    }

    private static string Key(string kind, string requestId) => kind + "/" + requestId;
}
