namespace Postern.Passwords.Tests;

/// <summary>Hashes made by mkpasswd, doveadm pw and python3-argon2, stored in TestData/fixtures.tsv.</summary>
internal static class Fixtures
{
    public sealed record Row(string Tool, string Password, string Hash);

    public static IReadOnlyList<Row> All { get; } = Load();

    private static List<Row> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestData", "fixtures.tsv");
        var rows = new List<Row>();
        foreach (var line in File.ReadAllLines(path))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var parts = line.Split('\t');
            if (parts.Length != 3)
            {
                throw new InvalidDataException("fixtures.tsv: every row needs three tab-separated columns");
            }

            rows.Add(new Row(parts[0], parts[1], parts[2]));
        }

        return rows;
    }

    public static TheoryData<string, string, string> Theory()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var row in All)
        {
            data.Add(row.Tool, row.Password, row.Hash);
        }

        return data;
    }
}
