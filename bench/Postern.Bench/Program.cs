using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Bench;
using Postern.Core.Tenants;
using Postern.Passwords;
using Postern.Primitives;
using Postern.Storage.Sqlite.Tenants;
using Postern.Tenants;

// Load measurements for the directory (issue 2). Usage:
//   dotnet run -c Release --project bench/Postern.Bench -- resolve [domains] [accounts] [lookups]
//   dotnet run -c Release --project bench/Postern.Bench -- import [accounts]
// SMTP latency, connect to 250 (issue 4), against any SMTP server:
//   dotnet run -c Release --project bench/Postern.Bench -- smtp-latency HOST:PORT --sessions S --count N --size BYTES --rcpt ADDR
var mode = args.Length > 0 ? args[0] : "resolve";
var inv = CultureInfo.InvariantCulture;
return mode switch
{
    "resolve" => await Resolve(Arg(1, 10_000), Arg(2, 100_000), Arg(3, 200_000)),
    "import" => await Import(Arg(1, 10_000)),
    "smtp-latency" => await SmtpLatency.RunAsync(args[1..]),
    _ => Usage(),
};

int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], inv) : fallback;

static int Usage()
{
    Console.Error.WriteLine("usage: Postern.Bench resolve [domains] [accounts] [lookups] | import [accounts] | smtp-latency HOST:PORT [options]");
    return 2;
}

static string TempFolder()
{
    var folder = Path.Combine(Path.GetTempPath(), "postern-bench-" + Guid.NewGuid().ToString("N"));
    Directory.CreateDirectory(folder);
    return folder;
}

static async Task<int> Resolve(int domains, int accounts, int lookups)
{
    var folder = TempFolder();
    try
    {
        using var store = SqliteDirectoryStore.Open(folder);
        var fill = Stopwatch.StartNew();
        var customer = await store.AddCustomerAsync("Bench", null, default);
        var domainIds = new long[domains];
        for (var d = 0; d < domains; d++)
        {
            domainIds[d] = (await store.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse($"d{d}.bench.test"), DomainKind.Hosted, []), default)).Id;
        }

        const int batch = 5_000;
        for (var start = 0; start < accounts; start += batch)
        {
            var chunk = Enumerable.Range(start, Math.Min(batch, accounts - start))
                .Select(i => new NewAccount(domainIds[i % domains], $"user{i}", "", "{PLAIN}x", 0)).ToList();
            await store.AddAccountsAsync(chunk, default);
        }

        Console.WriteLine($"store: {domains} domains, {accounts} accounts filled in {fill.Elapsed.TotalSeconds:F1} s");

        var random = new Random(42);
        var addresses = Enumerable.Range(0, lookups).Select(_ =>
        {
            var i = random.Next(accounts + (accounts / 10)); // ~9% unknown local parts
            return EmailAddress.Parse($"user{i}@d{i % domains}.bench.test");
        }).ToArray();

        // Uncached: every lookup goes to SQLite (a fresh resolver whose cache never fills: max 0 entries).
        var uncached = new RecipientResolver(store, new RecipientResolverOptions { MaxCacheEntries = 0, ChangePollInterval = TimeSpan.FromHours(1) });
        var cached = new RecipientResolver(store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.FromMilliseconds(250) });
        foreach (var a in addresses.Take(1_000))
        {
            await uncached.ResolveAsync(a); // warm up the JIT and the page cache
        }

        Report("uncached (store lookup every time)", await Measure(uncached, addresses));
        Report("cached, first pass (cold cache)", await Measure(cached, addresses));
        Report("cached, second pass (warm cache)", await Measure(cached, addresses));
        Console.WriteLine($"cache: {cached.CacheHits} hits, {cached.StoreLookups} store lookups");
        return 0;
    }
    finally
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(folder, true);
    }
}

static async Task<double[]> Measure(RecipientResolver resolver, EmailAddress[] addresses)
{
    var latencies = new double[addresses.Length];
    var total = Stopwatch.StartNew();
    for (var i = 0; i < addresses.Length; i++)
    {
        var t = Stopwatch.GetTimestamp();
        var r = await resolver.ResolveAsync(addresses[i]);
        latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        if (r.Kind == RecipientKind.Unknown && r.Domain is null)
        {
            throw new InvalidOperationException("domain not found: the fill is wrong");
        }
    }

    total.Stop();
    Array.Sort(latencies);
    return [addresses.Length / total.Elapsed.TotalSeconds, latencies[latencies.Length / 2], latencies[(int)(latencies.Length * 0.99)], latencies[(int)(latencies.Length * 0.999)], latencies[^1]];
}

static void Report(string label, double[] r) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}: {r[0]:F0} ops/s, p50 {r[1] * 1000:F1} µs, p99 {r[2] * 1000:F1} µs, p99.9 {r[3] * 1000:F1} µs, max {r[4]:F2} ms"));

static async Task<int> Import(int accounts)
{
    var folder = TempFolder();
    try
    {
        using var store = SqliteDirectoryStore.Open(folder);
        var customer = await store.AddCustomerAsync("Bench", null, default);
        await store.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse("import.bench.test"), DomainKind.Hosted, []), default);
        var hash = new PasswordHasher(new PasswordHashOptions()).Hash("pre-hashed password");
        var csv = new StringBuilder("email,password,name,quota\n");
        for (var i = 0; i < accounts; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"user{i}@import.bench.test,\"{hash}\",User {i},1024\n"); // an Argon2 PHC string has commas: quoted
        }

        var importer = new AccountImporter(store, new Hasher());
        var sw = Stopwatch.StartNew();
        var result = await importer.ImportAsync(new StringReader(csv.ToString()), new ImportOptions());
        sw.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"import: {result.Imported} accounts with pre-hashed passwords in {sw.Elapsed.TotalSeconds:F2} s ({result.Imported / sw.Elapsed.TotalSeconds:F0} accounts/s), {result.Errors.Count} errors"));
        return result.Imported == accounts ? 0 : 1;
    }
    finally
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(folder, true);
    }
}

internal sealed class Hasher : IPasswordHasher
{
    public string Hash(string password) => PasswordHasher.Default.Hash(password);

    public PasswordCheck Verify(string storedHash, string password) => PasswordHasher.Default.Verify(storedHash, password).Succeeded ? PasswordCheck.Match : PasswordCheck.Mismatch;

    public bool IsWellFormed(string storedHash, out string? error) => PasswordHashFormat.IsWellFormed(storedHash, out error);
}
