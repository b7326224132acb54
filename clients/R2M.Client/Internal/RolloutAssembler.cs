using Google.Protobuf;
using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Client.Internal;

/// <summary>
/// Reassembles Generate's stream: a rollout whose hidden states were chunked spans consecutive
/// messages (policy.proto, Rollout: the first with chunk_index 0 carries every field, the
/// following only id, chunk_index, more_chunks and more rows, concatenated along axis 0).
/// </summary>
internal sealed class RolloutAssembler
{
    private readonly List<Rollout> _done = [];
    private Rollout? _open;
    private List<ByteString>? _chunks;

    public void Add(Rollout message)
    {
        if (message.ChunkIndex == 0)
        {
            if (_open is not null)
            {
                throw Protocol($"rollout '{message.RolloutId}' started while '{_open.RolloutId}' still expected chunks");
            }

            _open = message;
            _chunks = message.HiddenStates is { } h ? [h.Data] : [];
        }
        else if (_open is null || _open.RolloutId != message.RolloutId || _chunks is null)
        {
            throw Protocol($"chunk {message.ChunkIndex} of rollout '{message.RolloutId}' without its first message");
        }
        else
        {
            if (message.HiddenStates is { } h)
            {
                _chunks.Add(h.Data);
            }
        }

        if (!message.MoreChunks)
        {
            Finish();
        }
    }

    public IReadOnlyList<Rollout> Complete()
    {
        if (_open is not null)
        {
            throw Protocol($"the Generate stream ended inside rollout '{_open.RolloutId}' (more_chunks was set)");
        }

        return _done.OrderBy(r => r.PromptIndex).ThenBy(r => r.SampleIndex).ToArray();
    }

    private void Finish()
    {
        Rollout r = _open!;
        if (_chunks is { Count: > 1 } && r.HiddenStates is { } first)
        {
            var whole = first.Clone();
            whole.Data = ByteString.CopyFrom(_chunks.SelectMany(c => c.ToByteArray()).ToArray());
            whole.Shape.Clear();
            whole.Shape.AddRange(r.HiddenStatesShape);
            r = r.Clone();
            r.HiddenStates = whole;
            r.MoreChunks = false;
        }

        _done.Add(r);
        _open = null;
        _chunks = null;
    }

    private static RpcException Protocol(string what) => new(new Status(StatusCode.Internal, "Generate stream: " + what));
}
