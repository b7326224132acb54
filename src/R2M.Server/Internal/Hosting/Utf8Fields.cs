using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Unicode;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// Request messages that arrived with a string field that is not UTF-8, and which field: set by
/// the deserializer of <see cref="StrictUtf8MethodProvider{TService}"/>, read by
/// <see cref="RequestInterceptor"/> before the handler sees the message. Weak keys: nothing is
/// kept once the message is gone.
/// </summary>
internal sealed class Utf8Findings
{
    private readonly ConditionalWeakTable<object, string> _fields = [];

    public void Flag(object message, string field) => _fields.AddOrUpdate(message, field);

    /// <summary>Throws INVALID_ARGUMENT (via <see cref="InvalidInputException"/>) naming the field when <paramref name="message"/> was flagged.</summary>
    public void Check(object message, string what)
    {
        if (_fields.TryGetValue(message, out var field))
        {
            throw new InvalidInputException($"{what}: {field} is not valid UTF-8 (protobuf strings must be UTF-8, RFC 3629; send raw bytes in a bytes field)");
        }
    }
}

/// <summary>
/// Finds the first string field of a serialized message whose bytes are not UTF-8, walking the
/// wire format (protobuf encoding: tag = field number and wire type; length-delimited fields carry
/// strings, bytes and sub-messages) with the message's descriptor, and names it as a path
/// ("prompts[2].text"). Only run after Google.Protobuf refused the message, so its cost (a copy of
/// the payload) is paid by bad requests alone.
/// </summary>
internal static class Utf8FieldLocator
{
    public static string? Find(ReadOnlySequence<byte> payload, MessageDescriptor descriptor)
    {
        try
        {
            return Find(new CodedInputStream(payload.ToArray()), descriptor, "");
        }
        catch (InvalidProtocolBufferException)
        {
            return null; // malformed in another way as well: the caller names no field
        }
    }

    private static string? Find(CodedInputStream input, MessageDescriptor descriptor, string prefix)
    {
        var seen = new Dictionary<int, int>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var field = descriptor.FindFieldByNumber(WireFormat.GetTagFieldNumber(tag));
            if (field is null || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited
                || field.FieldType is not (FieldType.String or FieldType.Message))
            {
                input.SkipLastField();
                continue;
            }

            var index = seen.GetValueOrDefault(field.FieldNumber);
            seen[field.FieldNumber] = index + 1;
            var name = field.IsRepeated ? $"{prefix}{field.Name}[{index}]" : prefix + field.Name;
            var bytes = input.ReadBytes();
            var found = field.FieldType == FieldType.String
                ? Utf8.IsValid(bytes.Span) ? null : name
                : Find(new CodedInputStream(bytes.ToByteArray()), field.MessageType, name + ".");
            if (found is not null) return found;
        }

        return null;
    }
}
