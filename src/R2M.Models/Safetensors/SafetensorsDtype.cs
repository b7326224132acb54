namespace R2M.Models.Safetensors;

/// <summary>Element types a safetensors header may name (huggingface/safetensors Dtype).</summary>
public enum SafetensorsDtype
{
    Bool, U8, I8, F8E5M2, F8E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
}

/// <summary>Header spellings and sizes of <see cref="SafetensorsDtype"/>.</summary>
public static class SafetensorsDtypes
{
    private static readonly Dictionary<string, SafetensorsDtype> ByName = new(StringComparer.Ordinal)
    {
        ["BOOL"] = SafetensorsDtype.Bool, ["U8"] = SafetensorsDtype.U8, ["I8"] = SafetensorsDtype.I8,
        ["F8_E5M2"] = SafetensorsDtype.F8E5M2, ["F8_E4M3"] = SafetensorsDtype.F8E4M3,
        ["I16"] = SafetensorsDtype.I16, ["U16"] = SafetensorsDtype.U16, ["F16"] = SafetensorsDtype.F16,
        ["BF16"] = SafetensorsDtype.BF16, ["I32"] = SafetensorsDtype.I32, ["U32"] = SafetensorsDtype.U32,
        ["F32"] = SafetensorsDtype.F32, ["F64"] = SafetensorsDtype.F64, ["I64"] = SafetensorsDtype.I64,
        ["U64"] = SafetensorsDtype.U64,
    };

    /// <summary>Parses a header dtype string; false for unknown (or newer, unsupported) spellings.</summary>
    public static bool TryParse(string name, out SafetensorsDtype dtype) => ByName.TryGetValue(name, out dtype);

    /// <summary>The header spelling, e.g. "BF16".</summary>
    public static string Name(SafetensorsDtype dtype) => ByName.First(p => p.Value == dtype).Key;

    /// <summary>Bytes per element (every dtype here is a whole number of bytes).</summary>
    public static int Size(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool or SafetensorsDtype.U8 or SafetensorsDtype.I8
            or SafetensorsDtype.F8E5M2 or SafetensorsDtype.F8E4M3 => 1,
        SafetensorsDtype.I16 or SafetensorsDtype.U16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 2,
        SafetensorsDtype.I32 or SafetensorsDtype.U32 or SafetensorsDtype.F32 => 4,
        _ => 8,
    };
}

/// <summary>One tensor's header entry. <see cref="Begin"/>/<see cref="End"/> are relative to the data buffer.</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the shape (1 for rank 0); <see cref="OverflowException"/> past 2^63 (the header check refuses such shapes).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));

    /// <summary>Shape as "[a, b]" for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
