using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Postern.Networking;

/// <summary>
/// One certificate in PEM files and the host names it serves.
/// </summary>
/// <param name="HostNames">Exact names (<c>mail.example.com</c>) and wildcards (<c>*.example.com</c>, one label).</param>
/// <param name="CertificatePath">PEM file with the certificate first, then any intermediates.</param>
/// <param name="KeyPath">PEM file with the private key (PKCS#8, RSA or EC); may be the same file as the certificate.</param>
/// <param name="IsDefault">Served when the client sends no SNI name or one that matches nothing. Without any default the first entry is.</param>
public sealed record CertificateFiles(IReadOnlyList<string> HostNames, string CertificatePath, string KeyPath, bool IsDefault = false);

/// <summary>Outcome of a certificate reload.</summary>
public sealed class CertificateReloadResult : EventArgs
{
    /// <summary>Creates a result.</summary>
    public CertificateReloadResult(int loaded, IReadOnlyList<string> errors)
    {
        Loaded = loaded;
        Errors = errors;
    }

    /// <summary>Entries whose files were read successfully.</summary>
    public int Loaded { get; }

    /// <summary>One message per entry that failed and kept its previous certificate.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>True when every entry loaded.</summary>
    public bool Succeeded => Errors.Count == 0;
}

/// <summary>
/// Server certificates from PEM files, chosen by SNI name (exact, then <c>*.wildcard</c>, then the default).
/// <see cref="Reload"/> re-reads every file (wire it to SIGHUP); with watching on, a change in a
/// certificate folder triggers a debounced reload. A file that fails to load keeps the previous certificate
/// for its entry and logs an error. Sessions already running keep the certificate they were given.
/// </summary>
public sealed class CertificateStore : ICertificateSelector, IDisposable
{
    private readonly IReadOnlyList<CertificateFiles> _files;
    private readonly ILogger _logger;
    private readonly Lock _reloadLock = new();
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly ITimer? _debounceTimer;
    private readonly TimeSpan _debounce;
    private Loaded?[] _loaded;
    private volatile Snapshot _snapshot;
    private bool _disposed;

    /// <summary>
    /// Loads every entry; throws <see cref="InvalidOperationException"/> naming each file that cannot be
    /// loaded, since a server must not start without its certificates.
    /// </summary>
    public CertificateStore(
        IEnumerable<CertificateFiles> files,
        ILogger? logger = null,
        bool watchFiles = false,
        TimeSpan? debounce = null,
        TimeProvider? timeProvider = null)
    {
        _files = [.. files];
        if (_files.Count == 0)
        {
            throw new ArgumentException("At least one certificate is needed.", nameof(files));
        }

        _logger = logger ?? NullLogger.Instance;
        _debounce = debounce ?? TimeSpan.FromSeconds(1);
        _loaded = new Loaded?[_files.Count];
        var result = LoadAll();
        if (!result.Succeeded)
        {
            throw new InvalidOperationException("Certificates could not be loaded: " + string.Join("; ", result.Errors));
        }

        _snapshot = BuildSnapshot();
        if (watchFiles)
        {
            var time = timeProvider ?? TimeProvider.System;
            _debounceTimer = time.CreateTimer(static s => ((CertificateStore)s!).OnDebounced(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            var folders = _files
                .SelectMany(f => new[] { f.CertificatePath, f.KeyPath })
                .Select(p => Path.GetDirectoryName(Path.GetFullPath(p))!)
                .Distinct(StringComparer.Ordinal);
            foreach (var folder in folders)
            {
                var watcher = new FileSystemWatcher(folder)
                {
                    NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime | NotifyFilters.Size,
                    IncludeSubdirectories = false,
                };
                watcher.Changed += OnFileEvent;
                watcher.Created += OnFileEvent;
                watcher.Deleted += OnFileEvent;
                watcher.Renamed += OnFileEvent;
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
        }
    }

    /// <summary>Raised after every reload (manual or automatic).</summary>
    public event EventHandler<CertificateReloadResult>? Reloaded;

    /// <inheritdoc/>
    public X509Certificate2? SelectCertificate(string? serverName) => Find(serverName)?.Certificate;

    /// <inheritdoc/>
    public SslStreamCertificateContext? SelectContext(string? serverName) => Find(serverName)?.Context;

    /// <summary>Re-reads every file. Entries that fail keep their previous certificate; the errors are logged and returned.</summary>
    public CertificateReloadResult Reload()
    {
        CertificateReloadResult result;
        lock (_reloadLock)
        {
            result = LoadAll();
            _snapshot = BuildSnapshot();
        }

        NetworkingLog.CertificatesReloaded(_logger, result.Loaded, _files.Count);
        Reloaded?.Invoke(this, result);
        return result;
    }

    /// <summary>Stops watching the files.</summary>
    public void Dispose()
    {
        lock (_reloadLock)
        {
            _disposed = true;
        }

        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _debounceTimer?.Dispose();
    }

    private static string Normalise(string name) => name.TrimEnd('.').ToLowerInvariant();

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                _debounceTimer?.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private void OnDebounced()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }
        }

        Reload();
    }

    private Loaded? Find(string? serverName)
    {
        var snapshot = _snapshot;
        if (!string.IsNullOrEmpty(serverName))
        {
            var name = Normalise(serverName);
            if (snapshot.Exact.TryGetValue(name, out var exact))
            {
                return exact;
            }

            var dot = name.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0 && snapshot.Wildcards.TryGetValue(name[(dot + 1)..], out var wildcard))
            {
                return wildcard;
            }
        }

        return snapshot.Default;
    }

    private CertificateReloadResult LoadAll()
    {
        var errors = new List<string>();
        var loaded = 0;
        var next = (Loaded?[])_loaded.Clone();
        for (var i = 0; i < _files.Count; i++)
        {
            var files = _files[i];
            var names = string.Join(',', files.HostNames);
            try
            {
                next[i] = Load(files);
                loaded++;
                NetworkingLog.CertificateLoaded(_logger, names, files.CertificatePath, next[i]!.Certificate.Subject, next[i]!.Certificate.NotAfter.ToUniversalTime());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException)
            {
                var reason = e is ArgumentException or System.Security.Cryptography.CryptographicException ? "not a valid PEM certificate and matching private key" : e.Message;
                NetworkingLog.CertificateLoadFailed(_logger, names, files.CertificatePath, reason);
                errors.Add($"{files.CertificatePath}: {reason}");
            }
        }

        _loaded = next;
        return new CertificateReloadResult(loaded, errors);
    }

    private static Loaded Load(CertificateFiles files)
    {
        var certificate = X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException("the certificate has no private key");
        }

        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(files.CertificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var extra in chain)
        {
            if (extra.Thumbprint != certificate.Thumbprint)
            {
                intermediates.Add(extra);
            }
        }

        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return new Loaded(certificate, context);
    }

    private Snapshot BuildSnapshot()
    {
        var exact = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        var wildcards = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        Loaded? fallback = null;
        Loaded? first = null;
        for (var i = 0; i < _files.Count; i++)
        {
            if (_loaded[i] is not { } loaded)
            {
                continue;
            }

            first ??= loaded;
            if (_files[i].IsDefault)
            {
                fallback ??= loaded;
            }

            foreach (var host in _files[i].HostNames)
            {
                var name = Normalise(host);
                if (name.StartsWith("*.", StringComparison.Ordinal))
                {
                    wildcards.TryAdd(name[2..], loaded);
                }
                else
                {
                    exact.TryAdd(name, loaded);
                }
            }
        }

        return new Snapshot(exact, wildcards, fallback ?? first);
    }

    private sealed record Loaded(X509Certificate2 Certificate, SslStreamCertificateContext Context);

    private sealed record Snapshot(Dictionary<string, Loaded> Exact, Dictionary<string, Loaded> Wildcards, Loaded? Default);
}
