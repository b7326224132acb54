using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Client;

/// <summary>The four call shapes (PROTOCOL-HTTP2.md does not distinguish them on the wire).</summary>
public enum MethodType
{
    Unary,
    ClientStreaming,
    ServerStreaming,
    DuplexStreaming,
}

/// <summary>What interceptors and logs see of a method, independent of its message types.</summary>
public interface IMethod
{
    MethodType Type { get; }

    /// <summary>Fully qualified service name, e.g. <c>grpc.health.v1.Health</c>.</summary>
    string ServiceName { get; }

    string Name { get; }

    /// <summary>The HTTP/2 <c>:path</c>: "/" Service-Name "/" Method-Name (PROTOCOL-HTTP2.md).</summary>
    string FullName { get; }
}

/// <summary>
/// A callable method: its path, shape and the protobuf parsers of its messages. Normally built from
/// the <see cref="MethodDescriptor"/> that protoc generates (<see cref="FromDescriptor"/>), so no
/// gRPC code generator is needed.
/// </summary>
public sealed class Method<TRequest, TResponse> : IMethod
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private static readonly ConcurrentDictionary<MethodDescriptor, Method<TRequest, TResponse>> Cache = new();

    public Method(MethodType type, string serviceName, string name, MessageParser<TResponse> responseParser)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(responseParser);
        Type = type;
        ServiceName = serviceName;
        Name = name;
        FullName = "/" + serviceName + "/" + name;
        ResponseParser = responseParser;
    }

    public MethodType Type { get; }

    public string ServiceName { get; }

    public string Name { get; }

    public string FullName { get; }

    public MessageParser<TResponse> ResponseParser { get; }

    /// <summary>
    /// The method of a protoc-generated service descriptor. Fails with a message naming the method
    /// when <typeparamref name="TRequest"/> or <typeparamref name="TResponse"/> do not match its
    /// input and output types. Results are cached per descriptor.
    /// </summary>
    public static Method<TRequest, TResponse> FromDescriptor(MethodDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return Cache.GetOrAdd(descriptor, static d => Create(d));
    }

    private static Method<TRequest, TResponse> Create(MethodDescriptor d)
    {
        Check(d, "request", d.InputType, typeof(TRequest));
        Check(d, "response", d.OutputType, typeof(TResponse));
        var type = (d.IsClientStreaming, d.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (true, false) => MethodType.ClientStreaming,
            (false, true) => MethodType.ServerStreaming,
            _ => MethodType.DuplexStreaming,
        };
        return new Method<TRequest, TResponse>(type, d.Service.FullName, d.Name, (MessageParser<TResponse>)d.OutputType.Parser);
    }

    private static void Check(MethodDescriptor d, string what, MessageDescriptor message, Type clr)
    {
        if (message.ClrType != clr)
        {
            throw new ArgumentException(
                $"Method {d.FullName}: {what} type is {message.FullName} ({message.ClrType?.Name ?? "no CLR type"}), not {clr.Name}.");
        }
    }

    public override string ToString() => FullName;
}
