namespace Postern.Delivery.Tests.Dsn;

/// <summary>The shared corpus of outside messages (../shared/corpus from the folder holding Postern.slnx); files are
/// read from there, never copied into the project.</summary>
internal static class SharedCorpus
{
    private static readonly Lazy<string> RepoLazy = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Postern.slnx not found above " + AppContext.BaseDirectory);
    });

    private static readonly Lazy<string> RootLazy = new(() =>
    {
        var corpus = Path.GetFullPath(Path.Combine(RepoLazy.Value, "..", "shared", "corpus"));
        return Directory.Exists(corpus) ? corpus : throw new InvalidOperationException("The shared corpus is missing: " + corpus);
    });

    public static string Root => RootLazy.Value;

    /// <summary>The folder holding Postern.slnx.</summary>
    public static string RepoRoot => RepoLazy.Value;

    public static string File(string relative) => Path.Combine(Root, relative);

    /// <summary>The SpamAssassin sample messages (ham and spam), in a stable order.</summary>
    public static IEnumerable<string> SpamAssassinMessages() =>
        Directory.EnumerateFiles(Path.Combine(Root, "spamassassin-sample"), "*", SearchOption.AllDirectories)
            .Where(p => !p.EndsWith(".md", StringComparison.Ordinal) && !Path.GetFileName(p).Contains("LICENSE", StringComparison.Ordinal) && !Path.GetFileName(p).Contains("NOTICE", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    /// <summary>The Stalwart MIME test messages.</summary>
    public static IEnumerable<string> StalwartMessages() =>
        Directory.EnumerateFiles(Path.Combine(Root, "mime-stalwart", "resources", "eml"), "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal);
}
