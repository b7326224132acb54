using System.Collections;
using R2M.Grpc.Internal;

namespace R2M.Grpc;

/// <summary>
/// Custom metadata of a call: request headers, response headers or trailers. An ordered list of
/// entries; a key may repeat. Keys ending in <c>-bin</c> carry bytes (base64 on the wire), all other
/// keys carry printable ASCII strings (docs/specs.md section 1, "Custom metadata").
/// </summary>
public sealed class Metadata : IList<Metadata.Entry>
{
    /// <summary>Suffix that marks a binary-valued key (PROTOCOL-HTTP2.md, "Binary-Header").</summary>
    public const string BinaryHeaderSuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public int Count => _entries.Count;

    public bool IsReadOnly => false;

    public Entry this[int index]
    {
        get => _entries[index];
        set => _entries[index] = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Adds an ASCII entry. The key is lowercased; a <c>-bin</c> key is rejected here.</summary>
    public Metadata Add(string key, string value)
    {
        _entries.Add(new Entry(key, value));
        return this;
    }

    /// <summary>Adds a binary entry; the key must end with <c>-bin</c>.</summary>
    public Metadata Add(string key, byte[] valueBytes)
    {
        _entries.Add(new Entry(key, valueBytes));
        return this;
    }

    public void Add(Entry item) => _entries.Add(item ?? throw new ArgumentNullException(nameof(item)));

    /// <summary>The last entry with this key, or null.</summary>
    public Entry? Get(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (_entries[i].Key == key)
            {
                return _entries[i];
            }
        }

        return null;
    }

    /// <summary>The string value of the last ASCII entry with this key, or null.</summary>
    public string? GetValue(string key) => Get(key) is { IsBinary: false } e ? e.Value : null;

    /// <summary>The bytes of the last binary entry with this key, or null.</summary>
    public byte[]? GetValueBytes(string key) => Get(key) is { IsBinary: true } e ? e.ValueBytes : null;

    /// <summary>All entries with this key, in order.</summary>
    public IEnumerable<Entry> GetAll(string key) => _entries.Where(e => e.Key == key);

    public void Clear() => _entries.Clear();

    public bool Contains(Entry item) => _entries.Contains(item);

    public void CopyTo(Entry[] array, int arrayIndex) => _entries.CopyTo(array, arrayIndex);

    public int IndexOf(Entry item) => _entries.IndexOf(item);

    public void Insert(int index, Entry item) =>
        _entries.Insert(index, item ?? throw new ArgumentNullException(nameof(item)));

    public bool Remove(Entry item) => _entries.Remove(item);

    public void RemoveAt(int index) => _entries.RemoveAt(index);

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>One metadata entry: a lowercase key and either a string or a byte value.</summary>
    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _valueBytes;

        public Entry(string key, string value)
        {
            Key = NormalizeKey(key);
            ArgumentNullException.ThrowIfNull(value);
            if (IsBinaryKey(Key))
            {
                throw new ArgumentException($"Metadata key '{Key}' ends with '-bin' and needs a byte[] value.", nameof(value));
            }

            // ASCII-Value: printable characters 0x20-0x7E only (PROTOCOL-HTTP2.md).
            foreach (var c in value)
            {
                if (c < 0x20 || c > 0x7E)
                {
                    throw new ArgumentException(
                        $"Metadata value for key '{Key}' contains character U+{(int)c:X4}; only printable ASCII (0x20-0x7E) is allowed.",
                        nameof(value));
                }
            }

            _value = value;
        }

        public Entry(string key, byte[] valueBytes)
        {
            Key = NormalizeKey(key);
            ArgumentNullException.ThrowIfNull(valueBytes);
            if (!IsBinaryKey(Key))
            {
                throw new ArgumentException($"Metadata key '{Key}' carries bytes, so it must end with '-bin'.", nameof(key));
            }

            _valueBytes = valueBytes;
        }

        // Received headers are taken as the peer sent them (HPACK already lowercased them);
        // validation applies to what this process sends.
        private Entry(string key, string? value, byte[]? valueBytes)
        {
            Key = key;
            _value = value;
            _valueBytes = valueBytes;
        }

        public string Key { get; }

        public bool IsBinary => _valueBytes is not null;

        /// <summary>The string value; for a binary entry, its unpadded base64 form.</summary>
        public string Value => _value ?? Base64Header.Encode(_valueBytes!);

        /// <summary>The byte value; for an ASCII entry, its ASCII bytes.</summary>
        public byte[] ValueBytes => _valueBytes ?? System.Text.Encoding.ASCII.GetBytes(_value!);

        internal static Entry CreateUnchecked(string key, string value) => new(key, value, null);

        internal static Entry CreateUnchecked(string key, byte[] valueBytes) => new(key, null, valueBytes);

        public override string ToString() => IsBinary ? $"{Key}: <{_valueBytes!.Length} bytes>" : $"{Key}: {_value}";

        internal static bool IsBinaryKey(string key) => key.EndsWith(BinaryHeaderSuffix, StringComparison.Ordinal);

        // Header-Name: 1*( %x30-39 / %x61-7A / "_" / "-" / ".") (PROTOCOL-HTTP2.md); uppercase is
        // lowercased because HTTP/2 field names are lowercase on the wire (RFC 7540 section 8.1.2).
        private static string NormalizeKey(string key)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            var lower = key.ToLowerInvariant();
            foreach (var c in lower)
            {
                var ok = c is (>= '0' and <= '9') or (>= 'a' and <= 'z') or '_' or '-' or '.';
                if (!ok)
                {
                    throw new ArgumentException(
                        $"Metadata key '{key}' contains '{c}'; allowed are 0-9 a-z _ - .", nameof(key));
                }
            }

            if (lower.StartsWith("grpc-", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Metadata key '{key}' uses the reserved 'grpc-' prefix.", nameof(key));
            }

            return lower;
        }
    }
}
