namespace R2M.Tokenizers;

/// <summary>A tokenizer.json that cannot be loaded; the message names the file and the JSON field at fault.</summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string message) : base(message) { }

    public TokenizerFormatException(string message, Exception inner) : base(message, inner) { }
}
