namespace R2M.Client.Cli;

/// <summary>
/// A plain-console progress display: one line rewritten in place with '\r' when stdout is a
/// terminal, one plain line per finished unit otherwise (logs and CI output stay readable).
/// </summary>
internal sealed class ProgressBar(string label, int total, TextWriter output, bool interactive)
{
    private const int Width = 24;
    private int _lastLength;

    public static ProgressBar ForConsole(string label, int total) =>
        new(label, total, Console.Out, !Console.IsOutputRedirected);

    /// <summary>A phase inside the current unit ("score"); shown only on a terminal.</summary>
    public void Phase(int done, string phase)
    {
        if (interactive)
        {
            Draw(done, phase);
        }
    }

    /// <summary>A finished unit with a short summary.</summary>
    public void Step(int done, string detail)
    {
        if (interactive)
        {
            Draw(done, detail);
            if (done >= total)
            {
                output.WriteLine();
                _lastLength = 0;
            }
        }
        else
        {
            output.WriteLine($"{label} {done}/{total} {detail}");
        }
    }

    /// <summary>Ends the in-place line (before other output).</summary>
    public void Break()
    {
        if (interactive && _lastLength > 0)
        {
            output.WriteLine();
            _lastLength = 0;
        }
    }

    internal static string Bar(int done, int total)
    {
        int filled = total <= 0 ? Width : (int)Math.Round((double)Math.Clamp(done, 0, total) / total * Width);
        return "[" + new string('#', filled) + new string('-', Width - filled) + "]";
    }

    private void Draw(int done, string detail)
    {
        string line = $"{label} {Bar(done, total)} {done}/{total} {detail}";
        output.Write('\r' + line.PadRight(_lastLength));
        output.Flush();
        _lastLength = line.Length;
    }
}
