namespace R2M.Tokenizers;

/// <summary>
/// Ids with the character range [Start, End) of the input text each one came from. Tokens made by
/// the post-processor template get (0, 0). Byte-level tokens that cover only part of a character
/// (e.g. one byte of an emoji) get that whole character. Where the normalizer changed a stretch of
/// text, or a pre-tokenizer added a prefix space, or the model is not byte-level, each token of
/// that stretch gets the range of its whole pre-token (coarse, but never wrong about where it came from).
/// </summary>
public sealed record TokenizerEncoding(int[] Ids, (int Start, int End)[] Offsets);
