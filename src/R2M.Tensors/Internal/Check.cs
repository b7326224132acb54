namespace R2M.Tensors.Internal;

/// <summary>Argument checks shared by the kernels; messages name the argument and the expected shape.</summary>
internal static class Check
{
    public static void Dims(int value, string name)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= 0");
        }
    }

    /// <summary>Span must hold at least `need` elements (shape given for the message).</summary>
    public static void Len(int length, long need, string name, string shape)
    {
        if (length < need)
        {
            throw new ArgumentException($"{name} has {length} elements, needs {need} for shape {shape}", name);
        }
    }

    /// <summary>Optional span: empty means "not wanted", otherwise it must be large enough.</summary>
    public static void LenOpt(int length, long need, string name, string shape)
    {
        if (length != 0)
        {
            Len(length, need, name, shape);
        }
    }
}
