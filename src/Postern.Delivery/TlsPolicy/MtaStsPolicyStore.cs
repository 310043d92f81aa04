using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Postern.Delivery.TlsPolicy;

/// <summary>A fetched MTA-STS policy as the cache keeps it.</summary>
/// <param name="Domain">The policy domain (lower-case A-labels).</param>
/// <param name="Id">The id of the TXT record when the policy was fetched.</param>
/// <param name="Policy">The parsed policy.</param>
/// <param name="PolicyText">The policy body as served (kept so that stores can write it out and read it back).</param>
/// <param name="FetchedAt">When the policy was fetched; it expires <see cref="MtaStsPolicy.MaxAge"/> later.</param>
public sealed record MtaStsCachedPolicy(string Domain, string Id, MtaStsPolicy Policy, string PolicyText,
    DateTimeOffset FetchedAt)
{
    /// <summary>When the policy stops applying (RFC 8461 §3.2 <c>max_age</c>).</summary>
    public DateTimeOffset ExpiresAt => FetchedAt + Policy.MaxAge;

    /// <summary>True when the policy still applies at <paramref name="now"/>.</summary>
    public bool IsValidAt(DateTimeOffset now) => now < ExpiresAt;
}

/// <summary>
/// Where <see cref="MtaStsCache"/> keeps policies beyond its memory, so that a restart does not forget them
/// (RFC 8461 §10.3: a policy protects only while it is remembered). Implementations may be called concurrently.
/// </summary>
public interface IMtaStsPolicyStore
{
    /// <summary>The stored policy of a domain, expired or not; null when there is none or it cannot be read.</summary>
    Task<MtaStsCachedPolicy?> GetAsync(string domain, CancellationToken cancellationToken = default);

    /// <summary>Stores (replaces) the policy of <see cref="MtaStsCachedPolicy.Domain"/>.</summary>
    Task SaveAsync(MtaStsCachedPolicy policy, CancellationToken cancellationToken = default);

    /// <summary>Forgets the policy of a domain.</summary>
    Task RemoveAsync(string domain, CancellationToken cancellationToken = default);
}

/// <summary>A store that keeps policies in memory only (lost at restart).</summary>
public sealed class InMemoryMtaStsPolicyStore : IMtaStsPolicyStore
{
    private readonly ConcurrentDictionary<string, MtaStsCachedPolicy> _policies = new(StringComparer.Ordinal);

    /// <summary>The number of stored policies.</summary>
    public int Count => _policies.Count;

    /// <inheritdoc/>
    public Task<MtaStsCachedPolicy?> GetAsync(string domain, CancellationToken cancellationToken = default) =>
        Task.FromResult(_policies.TryGetValue(TlsHostName.Normalize(domain), out var p) ? p : null);

    /// <inheritdoc/>
    public Task SaveAsync(MtaStsCachedPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policies[TlsHostName.Normalize(policy.Domain)] = policy;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task RemoveAsync(string domain, CancellationToken cancellationToken = default)
    {
        _policies.TryRemove(TlsHostName.Normalize(domain), out _);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A store that keeps one small text file per domain in a folder (<c>&lt;domain&gt;.mta-sts</c>): a header with the
/// domain, id and fetch time, a blank line, then the policy body as served. Files are replaced atomically (written
/// beside, then renamed). A file that cannot be read or parsed counts as absent.
/// </summary>
public sealed class FileMtaStsPolicyStore : IMtaStsPolicyStore
{
    private const string Magic = "postern-mta-sts 1";
    private const string Extension = ".mta-sts";
    private readonly string _folder;

    /// <summary>Uses (and creates) <paramref name="folder"/>.</summary>
    public FileMtaStsPolicyStore(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        _folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(_folder);
    }

    /// <inheritdoc/>
    public async Task<MtaStsCachedPolicy?> GetAsync(string domain, CancellationToken cancellationToken = default)
    {
        var path = PathOf(domain);
        if (path is null || !File.Exists(path))
        {
            return null;
        }

        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        return Decode(text, TlsHostName.Normalize(domain));
    }

    /// <inheritdoc/>
    public async Task SaveAsync(MtaStsCachedPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var path = PathOf(policy.Domain) ?? throw new ArgumentException($"'{policy.Domain}' is not a domain name.", nameof(policy));
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        var content = string.Create(CultureInfo.InvariantCulture,
            $"{Magic}\ndomain: {TlsHostName.Normalize(policy.Domain)}\nid: {policy.Id}\nfetched: {policy.FetchedAt.ToUniversalTime():O}\n\n{policy.PolicyText}");
        await File.WriteAllTextAsync(temp, content, new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    /// <inheritdoc/>
    public Task RemoveAsync(string domain, CancellationToken cancellationToken = default)
    {
        var path = PathOf(domain);
        if (path is not null)
        {
            File.Delete(path);
        }

        return Task.CompletedTask;
    }

    /// <summary>The file of a domain; null when the name cannot be a file name (only LDH names are stored).</summary>
    private string? PathOf(string domain)
    {
        var name = TlsHostName.Normalize(domain);
        return TlsHostName.IsLdhName(name) ? Path.Combine(_folder, name + Extension) : null;
    }

    private static MtaStsCachedPolicy? Decode(string text, string domain)
    {
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            return null;
        }

        var header = text[..split].Split('\n');
        var body = text[(split + 2)..];
        if (header.Length < 4 || header[0] != Magic)
        {
            return null;
        }

        string? storedDomain = null, id = null, fetched = null;
        foreach (var line in header.Skip(1))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                return null;
            }

            var value = line[(colon + 2)..];
            switch (line[..colon])
            {
                case "domain":
                    storedDomain = value;
                    break;
                case "id":
                    id = value;
                    break;
                case "fetched":
                    fetched = value;
                    break;
            }
        }

        if (storedDomain != domain || string.IsNullOrEmpty(id) || fetched is null
            || !DateTimeOffset.TryParse(fetched, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var fetchedAt))
        {
            return null;
        }

        var parsed = MtaStsPolicyParser.Parse(body);
        return parsed.Policy is null ? null : new MtaStsCachedPolicy(domain, id, parsed.Policy, body, fetchedAt);
    }
}
