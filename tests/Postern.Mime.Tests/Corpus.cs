namespace Postern.Mime.Tests;

/// <summary>Finds the shared corpus: up from the test assembly to the folder holding Postern.slnx, then ../shared/corpus.</summary>
internal static class Corpus
{
    private static readonly Lazy<string> RootLazy = new(Find);

    public static string Root => RootLazy.Value;

    public static string StalwartResources => Path.Combine(Root, "mime-stalwart", "resources");

    public static string StalwartEml => Path.Combine(StalwartResources, "eml");

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new InvalidOperationException("Postern.slnx not found above " + AppContext.BaseDirectory);
        }

        var corpus = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "corpus"));
        if (!Directory.Exists(corpus))
        {
            throw new InvalidOperationException("The shared corpus is missing: " + corpus);
        }

        return corpus;
    }

    public static IEnumerable<string> StalwartMessages() =>
        Directory.EnumerateFiles(StalwartEml, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    public static IEnumerable<string> SpamAssassinMessages() =>
        Directory.EnumerateFiles(Path.Combine(Root, "spamassassin-sample"), "*", SearchOption.AllDirectories)
            .Where(p => !Path.GetFileName(p).Contains("LICENSE", StringComparison.Ordinal) && !Path.GetFileName(p).Contains("NOTICE", StringComparison.Ordinal) && !p.EndsWith(".md", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    public static IEnumerable<string> AllMessages() => StalwartMessages().Concat(SpamAssassinMessages());

    public static byte[] ToLf(byte[] input)
    {
        var list = new List<byte>(input.Length);
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] == '\r' && i + 1 < input.Length && input[i + 1] == '\n')
            {
                continue;
            }

            list.Add(input[i]);
        }

        return [.. list];
    }

    public static byte[] ToCrlf(byte[] lf)
    {
        var list = new List<byte>(lf.Length + (lf.Length / 20));
        for (var i = 0; i < lf.Length; i++)
        {
            if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r'))
            {
                list.Add((byte)'\r');
            }

            list.Add(lf[i]);
        }

        return [.. list];
    }
}
