namespace Postern.ImapTest;

/// <summary>Finds the imaptest scripts: $POSTERN_IMAPTEST_DIR, else the first folder up from here holding shared/corpus/imaptest-scripts.</summary>
public static class Corpus
{
    public static string? FindTestsFolder()
    {
        var env = Environment.GetEnvironmentVariable("POSTERN_IMAPTEST_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            var tests = Path.Combine(env, "tests");
            return Directory.Exists(tests) ? tests : Directory.Exists(env) ? env : null;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "corpus", "imaptest-scripts", "tests");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>known-failures.txt: "group  reason" per line, '#' comments.</summary>
    public static IReadOnlyDictionary<string, string> ReadKnownFailures(string path)
    {
        var known = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var cut = line.IndexOfAny([' ', '\t']);
            known[cut < 0 ? line : line[..cut]] = cut < 0 ? "" : line[cut..].Trim();
        }

        return known;
    }
}
