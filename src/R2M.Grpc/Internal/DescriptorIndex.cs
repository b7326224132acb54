using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>
/// Lookup tables over the files of a set of services and all their transitive dependencies:
/// files by name, and fully qualified symbols (services, methods, messages, nested types, enums,
/// fields, extensions) to the file that defines them.
/// </summary>
internal sealed class DescriptorIndex
{
    private readonly Dictionary<string, FileDescriptor> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FileDescriptor> _symbols = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MessageDescriptor> _messages = new(StringComparer.Ordinal);
    private readonly List<FieldDescriptor> _extensions = [];

    public DescriptorIndex(IReadOnlyList<ServiceDescriptor> services)
    {
        Services = services;
        foreach (var service in services)
        {
            foreach (var file in WithDependencies(service.File))
            {
                AddFile(file);
            }
        }
    }

    public IReadOnlyList<ServiceDescriptor> Services { get; }

    public FileDescriptor? FindFile(string name) => _files.GetValueOrDefault(name);

    public FileDescriptor? FindFileContainingSymbol(string symbol) =>
        _symbols.GetValueOrDefault(symbol.StartsWith('.') ? symbol[1..] : symbol);

    public MessageDescriptor? FindMessage(string fullName) => _messages.GetValueOrDefault(fullName);

    public FieldDescriptor? FindExtension(string containingType, int number) =>
        _extensions.FirstOrDefault(e => e.ExtendeeType?.FullName == containingType && e.FieldNumber == number);

    public IEnumerable<FieldDescriptor> ExtensionsOf(string containingType) =>
        _extensions.Where(e => e.ExtendeeType?.FullName == containingType);

    /// <summary>The file followed by its transitive dependencies, each once (depth-first order).</summary>
    public static IEnumerable<FileDescriptor> WithDependencies(FileDescriptor file)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<FileDescriptor>();
        stack.Push(file);
        while (stack.Count > 0)
        {
            var current = stack.Pop();
            if (!seen.Add(current.Name))
            {
                continue;
            }

            yield return current;
            for (var i = current.Dependencies.Count - 1; i >= 0; i--)
            {
                stack.Push(current.Dependencies[i]);
            }
        }
    }

    private void AddFile(FileDescriptor file)
    {
        if (!_files.TryAdd(file.Name, file))
        {
            return;
        }

        foreach (var service in file.Services)
        {
            _symbols.TryAdd(service.FullName, file);
            foreach (var method in service.Methods)
            {
                _symbols.TryAdd($"{service.FullName}.{method.Name}", file);
            }
        }

        foreach (var message in file.MessageTypes)
        {
            AddMessage(file, message);
        }

        foreach (var e in file.EnumTypes)
        {
            AddEnum(file, e);
        }

        AddExtensions(file, file.Extensions.UnorderedExtensions);
    }

    private void AddMessage(FileDescriptor file, MessageDescriptor message)
    {
        _symbols.TryAdd(message.FullName, file);
        _messages.TryAdd(message.FullName, message);
        foreach (var field in message.Fields.InDeclarationOrder())
        {
            _symbols.TryAdd(field.FullName, file);
        }

        foreach (var nested in message.NestedTypes)
        {
            AddMessage(file, nested);
        }

        foreach (var e in message.EnumTypes)
        {
            AddEnum(file, e);
        }

        AddExtensions(file, message.Extensions.UnorderedExtensions);
    }

    private void AddEnum(FileDescriptor file, EnumDescriptor e)
    {
        _symbols.TryAdd(e.FullName, file);
        foreach (var value in e.Values)
        {
            _symbols.TryAdd(value.FullName, file);
        }
    }

    private void AddExtensions(FileDescriptor file, IEnumerable<FieldDescriptor> extensions)
    {
        foreach (var extension in extensions)
        {
            _symbols.TryAdd(extension.FullName, file);
            _extensions.Add(extension);
        }
    }
}
