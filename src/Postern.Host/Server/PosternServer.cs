using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Postern.Core.Storage;
using Postern.Core.Storage.MessageLog;
using Postern.Delivery.Srs;
using Postern.Host.Configuration;
using Postern.Host.Embedded;
using Postern.Host.Metrics;
using Postern.Mailboxes;
using Postern.Networking;
using Postern.Passwords;
using Postern.Primitives;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Session;
using Postern.Security;
using Postern.Server.Smtp;
using Postern.Tenants;

namespace Postern.Host.Server;

/// <summary>
/// The running server: opens the data folder, creates what a first start needs, starts the listeners
/// this build implements, prints the banner, and stops gracefully on SIGTERM/SIGINT (a second signal
/// exits at once); SIGHUP reloads the configuration and the certificates.
/// </summary>
public sealed partial class PosternServer : IAsyncDisposable
{
    private readonly LoadedConfiguration _config;
    private readonly TextWriter _console;
    private readonly ConfigurationSources _sources;
    private readonly TaskCompletionSource _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<IDisposable> _signals = [];
    private int _signalCount;
    private ILoggerFactory? _loggerFactory;
    private WebApplication? _web;
    private EmbeddedBackend? _storage;
    private PrometheusMetrics? _metrics;
    private ServerCertificates? _certificates;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _maintenanceLoop;
    private ListenerHost? _smtp;
    private ListenerHost? _imap;
    private AuthGuard? _authGuard;
    private Authenticator? _authenticator;
    private MessageLogWriter? _messageLog;
    private Dns.DnsStubResolver? _dns;
    private Delivery.Engine.DeliveryEngine? _delivery;
    private Delivery.Engine.SmtpDeliveryAgent? _agent;
    private Delivery.TlsPolicy.MtaStsCache? _mtaSts;
    private readonly SemaphoreSlim _srsReload = new(0);
    private Task? _srsLoop;

    public PosternServer(LoadedConfiguration config, TextWriter console, ConfigurationSources sources)
    {
        _config = config;
        _console = console;
        _sources = sources;
        Current = config;
    }

    /// <summary>The configuration in force; SIGHUP replaces it (sessions keep the snapshot they started with).</summary>
    public LoadedConfiguration Current { get; private set; }

    /// <summary>Exit code used when a second stop signal ends the process at once.</summary>
    public const int ImmediateExitCode = 130;

    /// <summary>The one resolver of the process (its cache and in-flight de-duplication are shared by every caller).</summary>
    private static Dns.DnsStubResolver CreateResolver(DnsOptions dns) => new(new Dns.DnsResolverOptions
    {
        Servers = [.. dns.Servers.Select(s => ConfigurationLoader.ParseDnsServer(s)!)],
        Timeout = dns.Timeout,
        Attempts = dns.Attempts,
        MinimumCacheTtl = dns.MinimumCacheTtl,
        MaximumCacheTtl = dns.MaximumCacheTtl,
        MaximumNegativeCacheTtl = dns.MaximumNegativeCacheTtl,
        MaxCacheEntries = dns.CacheEntries,
    });

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        _loggerFactory = CreateLoggerFactory(_config.Options.Log);
        var logger = _loggerFactory.CreateLogger("Postern.Server");

        var folder = DataFolder.Prepare(_config.DataFolder);
        _storage = EmbeddedBackend.Open(folder);
        _maintenanceLoop = RunMaintenanceAsync(_loggerFactory.CreateLogger("Postern.Maintenance"), _stopping.Token);
        var directory = new DirectoryService(_storage.Directory, new PasswordHasherAdapter(PasswordHasher.Default));
        var admin = await FirstStart.EnsureAdminAsync(directory, _config.Options.Admin.InitialLogin, _config.Options.Admin.InitialPassword, cancellationToken).ConfigureAwait(false);
        _certificates = ServerCertificates.Create(_config, folder, _loggerFactory.CreateLogger("Postern.Tls"));
        _metrics = new PrometheusMetrics();
        _dns = CreateResolver(_config.Options.Dns);

        var listeners = new List<(ResolvedListener Listener, string Status)>();
        var https = _config.Listeners.Single(l => l.Known.Name == "https");
        if (https.Enabled)
        {
            _web = await StartWebAsync(https, cancellationToken).ConfigureAwait(false);
        }

        _smtp = await StartSmtpAsync(directory, cancellationToken).ConfigureAwait(false);
        _imap = await StartImapAsync(cancellationToken).ConfigureAwait(false);
        if (_config.Options.Delivery.Enabled)
        {
            _delivery = StartDelivery(folder);
        }

        foreach (var l in _config.Listeners)
        {
            var status = !l.Enabled ? "switched off"
                : !l.Implemented ? "not available in this build yet"
                : "ready";
            listeners.Add((l, status));
        }

        RegisterSignals(logger);
        var elapsed = Stopwatch.GetElapsedTime(started);
        PrintBanner(folder, admin, listeners, elapsed);
        LogStarted(logger, _config.Hostname, folder.Root, (long)elapsed.TotalMilliseconds);

        using (cancellationToken.Register(() => _stopRequested.TrySetResult()))
        {
            await _stopRequested.Task.ConfigureAwait(false);
        }

        LogStopping(logger, _config.Options.Server.ShutdownTimeout.TotalSeconds);
        if (_web is not null)
        {
            using var bound = new CancellationTokenSource(_config.Options.Server.ShutdownTimeout);
            await _web.StopAsync(bound.Token).ConfigureAwait(false);
        }

        if (_smtp is not null)
        {
            var result = await _smtp.StopAsync(_config.Options.Server.ShutdownTimeout, CancellationToken.None).ConfigureAwait(false);
            LogSessionsStopped(logger, result.Finished, result.ToldToGo, result.Aborted);
        }

        if (_imap is not null)
        {
            var result = await _imap.StopAsync(_config.Options.Server.ShutdownTimeout, CancellationToken.None).ConfigureAwait(false);
            LogSessionsStopped(logger, result.Finished, result.ToldToGo, result.Aborted);
        }

        if (_delivery is not null)
        {
            await _delivery.DisposeAsync().ConfigureAwait(false);
            _delivery = null;
        }

        if (_messageLog is not null)
        {
            await _messageLog.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_maintenanceLoop is not null)
        {
            await _maintenanceLoop.ConfigureAwait(false);
        }

        if (_srsLoop is not null)
        {
            await _srsLoop.ConfigureAwait(false);
        }

        LogStopped(logger);
        return 0;
    }

    /// <summary>Housekeeping: blob files orphaned by a crash at start, then every hour autoexpunge, blob collection, log retention.</summary>
    private async Task RunMaintenanceAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var mail = _storage!.Mail;
        var maintenance = new Mailboxes.MailboxMaintenance(mail.Mailboxes, mail.Blobs, mail.MessageLog, mail.KeyValue,
            new Mailboxes.MaintenanceOptions { MessageLogRetentionDays = _config.Options.Storage.MessageLogRetentionDays });
        try
        {
            if (mail.Blobs is Storage.Sqlite.Blobs.SqliteBlobStore sqliteBlobs)
            {
                var swept = await sqliteBlobs.SweepOrphanFilesAsync(DateTimeOffset.UtcNow, TimeSpan.FromHours(1), cancellationToken).ConfigureAwait(false);
                LogOrphansSwept(logger, swept);
            }

            using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
            do
            {
                try
                {
                    var report = await maintenance.RunOnceAsync(cancellationToken).ConfigureAwait(false);
                    LogMaintenance(logger, report.MessagesExpunged, report.BlobsDeleted, report.BlobBytesFreed, report.LogRecordsDeleted);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogMaintenanceFailed(logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _signals)
        {
            s.Dispose();
        }

        if (_web is not null)
        {
            await _web.DisposeAsync().ConfigureAwait(false);
        }

        if (_smtp is not null)
        {
            await _smtp.DisposeAsync().ConfigureAwait(false);
        }

        if (_imap is not null)
        {
            await _imap.DisposeAsync().ConfigureAwait(false);
        }

        if (_delivery is not null)
        {
            await _delivery.DisposeAsync().ConfigureAwait(false);
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync().ConfigureAwait(false);
        }

        _mtaSts?.Dispose();
        if (_messageLog is not null)
        {
            await _messageLog.DisposeAsync().ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _srsReload.Dispose();
        _metrics?.Dispose();
        _certificates?.Dispose();
        _dns?.Dispose();
        _storage?.Dispose();
        _loggerFactory?.Dispose();
    }

    /// <summary>Asks the server to stop gracefully (as SIGTERM does).</summary>
    public void RequestStop() => _stopRequested.TrySetResult();

    private void RegisterSignals(ILogger logger)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref _signalCount) > 1)
            {
                LogImmediateExit(logger);
                _loggerFactory?.Dispose();
                Environment.Exit(ImmediateExitCode);
            }

            _stopRequested.TrySetResult();
        }

        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            Reload(logger);
        }));
    }

    private void Reload(ILogger logger)
    {
        try
        {
            var fresh = ConfigurationLoader.Load(_sources);
            Current = fresh;
            _certificates?.Reload();
            _srsReload.Release();
            LogReloaded(logger);
        }
        catch (ConfigurationException e)
        {
            LogReloadFailed(logger, e.Message);
        }
    }

    private async Task<WebApplication> StartWebAsync(ResolvedListener https, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = _config.DataFolder });
        builder.Services.AddSingleton(_loggerFactory!);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            k.Listen(https.Address, https.Port, lo => lo.UseHttps(new TlsHandshakeCallbackOptions
            {
                // The certificate by SNI, with its intermediate chain, from the (reloadable) certificate store.
                OnConnection = context => ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _certificates!.Selector.SelectContext(context.ClientHelloInfo.ServerName),
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                }),
                HandshakeTimeout = _config.Options.Tls.HandshakeTimeout,
            }));
        });
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        var metrics = _metrics!;
        app.MapGet("/healthz", () => Results.Text("ok\n", "text/plain"));
        app.MapGet("/metrics", () => Results.Text(metrics.Render(), PrometheusMetrics.ContentType));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>
    /// The SRS secrets in force, and the one loop that re-reads them from the store every few minutes and on SIGHUP,
    /// so that <c>postern srs rotate</c> (on any node) takes effect without a restart.
    /// </summary>
    private async Task<SrsKeyHolder> StartSrsKeysAsync(SrsKeyProvider provider, CancellationToken cancellationToken)
    {
        var holder = new SrsKeyHolder(await provider.GetOrCreateAsync(cancellationToken).ConfigureAwait(false));
        var logger = _loggerFactory!.CreateLogger("Postern.Srs");
        _srsLoop = RefreshSrsKeysAsync(provider, holder, logger, _stopping.Token);
        return holder;
    }

    private async Task RefreshSrsKeysAsync(SrsKeyProvider provider, SrsKeyHolder holder, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _srsReload.WaitAsync(TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
                try
                {
                    if (await provider.RefreshAsync(holder, cancellationToken).ConfigureAwait(false))
                    {
                        LogSrsKeysChanged(logger, holder.Current.Secrets.Count);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogSrsRefreshFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task<ListenerHost?> StartSmtpAsync(DirectoryService directory, CancellationToken cancellationToken)
    {
        var kinds = new Dictionary<string, (SmtpListenerKind Kind, TlsMode Tls)>(StringComparer.Ordinal)
        {
            ["smtp"] = (SmtpListenerKind.Mx, TlsMode.StartTls),
            ["submission"] = (SmtpListenerKind.Submission, TlsMode.StartTls),
            ["submissions"] = (SmtpListenerKind.Submission, TlsMode.Implicit),
            ["lmtp"] = (SmtpListenerKind.Lmtp, TlsMode.None),
        };
        var enabled = _config.Listeners.Where(l => l.Enabled && kinds.ContainsKey(l.Known.Name)).ToList();
        if (enabled.Count == 0)
        {
            return null;
        }

        var mail = _storage!.Mail;
        var options = _config.Options;
        var resolver = new RecipientResolver(_storage.Directory, new RecipientResolverOptions
        {
            Postmaster = options.Server.Postmaster is { } pm ? EmailAddress.Parse(pm) : null,
        });
        var guard = new DiskSpaceGuard(DriveInfoDiskSpaceProbe.Instance, _config.DataFolder, options.Storage.MinimumFreeSpaceMegabytes * 1024 * 1024);
        var delivery = new LocalDeliveryService(resolver, _storage.Directory, mail.Blobs, mail.Mailboxes, new LocalDeliveryOptions(_config.Hostname), guard);
        _messageLog = new MessageLogWriter(mail.MessageLog);
        var services = new SmtpServices(resolver, delivery, mail.Blobs, mail.Mailboxes, mail.Queue, _messageLog,
            SharedAuthenticator(), TimeProvider.System)
        {
            Policy = new SmtpPolicy
            {
                AuthOnMx = options.Smtp.AuthOnMx,
                Hostname = _config.Hostname,
                OverQuotaIsPermanent = options.Smtp.OverQuotaPermanent,
                MaxReceivedHeaders = options.Smtp.MaxReceivedHeaders,
                ReceivedShowsAuthenticatedUser = options.Smtp.ReceivedShowsAuthenticatedUser,
                MxGreetingDelay = options.Smtp.GreetingDelay,
                TrustedNetworks = options.Smtp.TrustedNetworks.Select(n => IPNetwork.Parse(n)).ToList(),
                IdleTimeout = options.Smtp.IdleTimeout,
                MaxSessionTime = options.Smtp.MaxSessionTime,
                MasterUsers = new HashSet<string>(options.Smtp.MasterUsers, StringComparer.OrdinalIgnoreCase),
            },
            AuthGuard = SharedAuthGuard(),
            RateLimits = options.Security.RateLimits ? new RateLimiter(mail.KeyValue, new RateLimitOptions
            {
                ConnectionsPerIpPerMinute = options.Security.ConnectionsPerIpPerMinute,
                MessagesPerIpPerHour = options.Security.MessagesPerIpPerHour,
                MessagesPerAccountPerHour = options.Security.MessagesPerAccountPerHour,
                RecipientsPerAccountPerHour = options.Security.RecipientsPerAccountPerHour,
                RecipientsPerIpPerHour = options.Security.RecipientsPerIpPerHour,
                BytesPerAccountPerHour = options.Security.BytesPerAccountPerHour,
                BytesPerIpPerHour = options.Security.BytesPerIpPerHour,
                TrustedNetworks = options.Smtp.TrustedNetworks,
            }, TimeProvider.System, _loggerFactory!.CreateLogger<RateLimiter>()) : null,
            Dns = options.Dns.ReverseLookups ? _dns : null,
            RecipientVerifier = options.RecipientVerification.CreateVerifier(_config.Hostname, _dns),
            Srs = options.Smtp.Srs
                ? new SrsRewriter(new SrsOptions { Domain = options.Smtp.SrsDomain ?? _config.Hostname }, await StartSrsKeysAsync(new SrsKeyProvider(mail.KeyValue), cancellationToken).ConfigureAwait(false))
                : null,
        };
        var sessionOptions = new SmtpSessionOptions
        {
            Hostname = _config.Hostname,
            MaxMessageSize = options.Smtp.MaxMessageSize,
            MaxRecipients = options.Smtp.MaxRecipients,
            MaxErrors = options.Smtp.MaxErrors,
            ErrorDelay = options.Smtp.ErrorDelay,
            MaxErrorDelay = options.Smtp.MaxErrorDelay,
            MaxCommandsBeforeAuth = options.Smtp.MaxCommandsBeforeAuth,
            MaxLineLength = options.Smtp.MaxLineLength,
            RequireTls = options.Smtp.RequireTls,
            AuthAllowedWithoutTls = options.Smtp.AuthWithoutTls,
            BareLineEnds = options.Smtp.BareLineEnds.Equals("reject", StringComparison.OrdinalIgnoreCase) ? BareLineEndHandling.Reject : BareLineEndHandling.Normalize,
        };
        var logger = _loggerFactory!.CreateLogger("Postern.Smtp");
        return await StartListenersAsync(enabled.Select(l => (l, kinds[l.Known.Name].Tls,
            (IConnectionHandler)new SmtpConnectionHandler(kinds[l.Known.Name].Kind, sessionOptions, services, logger))), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts one listener per configured endpoint with its handler; a port that cannot be bound is a configuration error.</summary>
    private async Task<ListenerHost> StartListenersAsync(IEnumerable<(ResolvedListener Listener, TlsMode Tls, IConnectionHandler Handler)> configured, CancellationToken cancellationToken)
    {
        var options = _config.Options;
        var listeners = new List<ListenerService>();
        foreach (var (l, tls, handler) in configured)
        {
            var listenerOptions = new ListenerOptions(l.Known.Name)
            {
                EndPoints = [new IPEndPoint(l.Address, l.Port)],
                UnixSocketPath = l.Config.UnixSocket is { } socketPath ? Path.GetFullPath(socketPath) : null,
                UnixSocketMode = (UnixFileMode)Convert.ToInt32(l.Config.UnixSocketMode, 8),
                Tls = tls,
                ProxyProtocolTrustedNetworks = l.Config.ProxyProtocolFrom.Select(n => IPNetwork.Parse(n)).ToList(),
                MaxConnections = l.Config.MaxConnections,
                MaxConnectionsPerAddress = l.Config.MaxConnectionsPerIp,
                TlsHandshakeTimeout = options.Tls.HandshakeTimeout,
            };
            listeners.Add(new ListenerService(listenerOptions, handler, tls == TlsMode.None ? null : _certificates!.Selector, _loggerFactory!.CreateLogger("Postern.Listener")));
        }

        var host = new ListenerHost(listeners);
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ListenerBindException e)
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw new ConfigurationException([e.Message]);
        }

        return host;
    }

    /// <summary>One authenticator (and verified-credential cache) for SMTP AUTH, IMAP and POP3.</summary>
    private Authenticator SharedAuthenticator() =>
        _authenticator ??= new Authenticator(_storage!.Directory, new PasswordHasherAdapter(PasswordHasher.Default), new VerifiedCredentialCache());

    /// <summary>The AUTH brute-force guard, one for SMTP, IMAP and POP3 so failures on one count for all.</summary>
    private AuthGuard? SharedAuthGuard()
    {
        var options = _config.Options;
        if (!options.Security.AuthProtection)
        {
            return null;
        }

        return _authGuard ??= new AuthGuard(_storage!.Mail.KeyValue, new AuthProtectionOptions
        {
            IpMaxFailures = options.Security.AuthMaxFailuresPerIp,
            IpFailureWindow = options.Security.AuthFailureWindow,
            IpLockoutBase = options.Security.AuthLockout,
            AccountMaxFailures = options.Security.AuthMaxFailuresPerAccount,
            TrustedNetworks = options.Smtp.TrustedNetworks,
        }, TimeProvider.System, _loggerFactory!.CreateLogger<AuthGuard>());
    }

    private async Task<ListenerHost?> StartImapAsync(CancellationToken cancellationToken)
    {
        var kinds = new Dictionary<string, TlsMode>(StringComparer.Ordinal) { ["imap"] = TlsMode.StartTls, ["imaps"] = TlsMode.Implicit };
        var enabled = _config.Listeners.Where(l => l.Enabled && kinds.ContainsKey(l.Known.Name)).ToList();
        if (enabled.Count == 0)
        {
            return null;
        }

        var mail = _storage!.Mail;
        var options = _config.Options;
        var imap = options.Imap;
        var services = new Postern.Server.Imap.ImapServices(
            SharedAuthenticator(), _storage.Directory, mail.Mailboxes, mail.Blobs, TimeProvider.System)
        {
            Policy = new Postern.Server.Imap.ImapPolicy
            {
                Hostname = _config.Hostname,
                AllowPlaintextAuth = imap.AllowPlaintextAuth,
                TrustedNetworks = imap.SecureNetworks.Select(n => IPNetwork.Parse(n)).ToList(),
                IdleTimeout = imap.IdleTimeout,
                PreAuthIdleTimeout = imap.PreAuthIdleTimeout,
                MaxConnectionsPerAccount = imap.MaxConnectionsPerAccount,
                MasterUsers = new HashSet<string>(imap.MasterUsers, StringComparer.OrdinalIgnoreCase),
                Limits = new Protocols.Imap.ImapLimits { MaxLiteralSize = imap.MaxMessageSize, MaxLineLength = imap.MaxLineLength },
            },
            AuthGuard = SharedAuthGuard(),
            Preparer = new Postern.Server.Imap.MimeMessagePreparer(),
            Training = new Postern.Server.Imap.MessageLogTrainingSink(_messageLog ??= new MessageLogWriter(mail.MessageLog), TimeProvider.System),
        };
        var handler = new Postern.Server.Imap.ImapConnectionHandler(services, _loggerFactory!.CreateLogger("Postern.Imap"));
        return await StartListenersAsync(enabled.Select(l => (l, kinds[l.Known.Name], (IConnectionHandler)handler)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The outbound queue: routing, the SMTP client with the TLS policies, retries and DSNs.</summary>
    private Delivery.Engine.DeliveryEngine StartDelivery(DataFolder folder)
    {
        var d = _config.Options.Delivery;
        var mail = _storage!.Mail;
        var logger = _loggerFactory!.CreateLogger("Postern.Delivery");
        System.Security.Cryptography.X509Certificates.X509Certificate2Collection? roots = null;
        if (d.TrustRootsFile is { } rootsFile)
        {
            roots = [];
            roots.ImportFromPemFile(rootsFile);
        }

        var smarthostTls = d.SmarthostTls is { } st ? Delivery.TlsPolicy.AdminTlsPolicy.ParseLevel(st) : d.SmarthostUser is not null ? Delivery.TlsPolicy.AdminTlsLevel.Encrypt : null;
        var options = new Delivery.Engine.DeliveryOptions
        {
            Hostname = _config.Hostname,
            MaxConnections = d.MaxConnections,
            MaxConnectionsPerDestination = d.MaxConnectionsPerDestination,
            MaxMessagesPerConnection = d.MaxMessagesPerConnection,
            ConnectionIdleTime = d.ConnectionIdleTime,
            FirstRetryInterval = d.FirstRetryInterval,
            MaxRetryInterval = d.MaxRetryInterval,
            QueueLifetime = d.QueueLifetime,
            RelayQueueLifetime = d.RelayQueueLifetime,
            DelayWarningAfter = d.DelayWarningAfter,
            DestinationBackoff = d.DestinationBackoff,
            MaxDestinationBackoff = d.MaxDestinationBackoff,
            PollInterval = TimeSpan.FromMilliseconds(250),
            IpPreference = DeliveryConfig.ParsePreference(d.IpPreference) ?? Delivery.Engine.IpPreference.Ipv6First,
            SourceAddressV4 = d.SourceAddressV4 is { } v4 ? IPAddress.Parse(v4) : null,
            SourceAddressV6 = d.SourceAddressV6 is { } v6 ? IPAddress.Parse(v6) : null,
            Smarthost = d.Smarthost is { } sh ? DeliveryConfig.ParseHop(sh, smarthostTls, d.SmarthostUser, d.SmarthostPassword) : null,
            Transports = d.Transports.ToDictionary(t => t.Key.ToLowerInvariant(), t => DeliveryConfig.ParseHop(t.Value, null)!, StringComparer.OrdinalIgnoreCase),
            TlsPolicies = d.TlsPolicies.ToDictionary(t => t.Key.ToLowerInvariant(), t => new Delivery.TlsPolicy.AdminTlsPolicy(Delivery.TlsPolicy.AdminTlsPolicy.ParseLevel(t.Value)!.Value), StringComparer.OrdinalIgnoreCase),
            MtaSts = d.MtaSts,
            Dane = d.Dane,
            MxPortOverride = d.MxPortOverride,
            TrustRoots = roots,
            OwnEndpoints = _smtp?.Listeners.SelectMany(l => l.EndPoints).ToList() ?? [],
        };
        var directoryView = new DirectoryDeliveryView(_storage.Directory, TimeProvider.System);
        var router = new Delivery.Engine.DeliveryRouter(options, _dns!, directoryView);
        var reporter = new Delivery.TlsPolicy.MtaStsTestingReporter();
        reporter.Reported += (_, report) => LogMtaStsTestingFailure(logger, report.Domain, report.MxHost, report.Failure, report.Detail);
        if (d.MtaSts)
        {
            var stsFolder = Path.Combine(folder.Root, "mta-sts");
            Directory.CreateDirectory(stsFolder);
            _mtaSts = new Delivery.TlsPolicy.MtaStsCache(
                new Delivery.TlsPolicy.MtaStsPolicyFetcher(_dns!, new Delivery.TlsPolicy.MtaStsFetcherOptions { TrustRoots = roots }),
                new Delivery.TlsPolicy.FileMtaStsPolicyStore(stsFolder));
        }

        Delivery.Engine.DeliveryEngine? engine = null;
        _agent = new Delivery.Engine.SmtpDeliveryAgent(options, router, _dns!, _mtaSts, reporter, TimeProvider.System, loop => engine?.ReportLoop(loop));
        var resolver = new RecipientResolver(_storage.Directory, new RecipientResolverOptions
        {
            Postmaster = _config.Options.Server.Postmaster is { } pm ? EmailAddress.Parse(pm) : null,
        });
        var guard = new DiskSpaceGuard(DriveInfoDiskSpaceProbe.Instance, _config.DataFolder, _config.Options.Storage.MinimumFreeSpaceMegabytes * 1024 * 1024);
        var local = new LocalDeliveryService(resolver, _storage.Directory, mail.Blobs, mail.Mailboxes, new LocalDeliveryOptions(_config.Hostname), guard);
        engine = new Delivery.Engine.DeliveryEngine(
            new Delivery.Engine.DeliveryEngineServices(mail.Queue, mail.Blobs, router, _agent, new Delivery.Bounces.BounceSender(mail.Queue, mail.Blobs, new Delivery.Bounces.BounceOptions { ReportingMta = _config.Hostname }))
            {
                Local = new MailboxTransport(local, mail.Queue, _config.Hostname),
                MessageLog = mail.MessageLog,
                Logger = logger,
            },
            options);
        engine.Start();
        return engine;
    }

    // Raised on the delivery thread for each attempt an MTA-STS policy in testing mode would have refused (the metric
    // postern.delivery.mta_sts.testing_failures counts the same). Logged as Postern.Delivery, so the id is from the
    // delivery engine's range (100-).
    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "MTA-STS policy of {Domain} is in testing mode: enforce would have refused {MxHost} ({Failure}: {Detail}); not enforced")]
    private static partial void LogMtaStsTestingFailure(ILogger logger, string domain, string mxHost, Delivery.TlsPolicy.MtaStsTestingFailure failure, string detail);

    private void PrintBanner(DataFolder folder, FirstStart.CreatedAdmin? admin, List<(ResolvedListener Listener, string Status)> listeners, TimeSpan elapsed)
    {
        var o = _console;
        o.WriteLine($"Postern {Cli.StatusCommand.Version} on {_config.Hostname}{(_config.HostnameGuessed ? " (guessed: set Server:Hostname)" : string.Empty)}");
        o.WriteLine($"data folder: {folder.Root}{(folder.Created ? " (created)" : string.Empty)}");
        o.WriteLine($"tls: {_certificates!.Description}");
        foreach (var (l, status) in listeners)
        {
            var bound = (_smtp?.Listeners ?? []).Concat(_imap?.Listeners ?? []).FirstOrDefault(s => s.Options.Name == l.Known.Name)?.EndPoints.FirstOrDefault();
            var endpoint = l.Known.Name == "https" && _web is not null && status == "ready" ? BoundEndpoint(_web)
                : bound is not null ? FormatEndpoint(bound.Address, bound.Port)
                : FormatEndpoint(l.Address, l.Port);
            o.WriteLine($"listener {l.Known.Name,-12} {endpoint,-24} {status}");
        }

        if (admin is not null)
        {
            o.WriteLine(admin.OneTimePassword is null
                ? $"first admin: '{admin.Login}' created with the configured password"
                : $"first admin: '{admin.Login}', one-time password: {admin.OneTimePassword} (shown once; change it at first sign-in)");
        }

        o.WriteLine($"ready in {elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)} ms");
        o.Flush();
    }

    private static string BoundEndpoint(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var first = addresses?.FirstOrDefault();
        if (first is null)
        {
            return "?";
        }

        var uri = new Uri(first.Replace("[::]", "[::1]", StringComparison.Ordinal));
        return first.Contains("[::]", StringComparison.Ordinal) ? $"[::]:{uri.Port.ToString(CultureInfo.InvariantCulture)}" : $"{uri.Host}:{uri.Port.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string FormatEndpoint(IPAddress address, int port) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}" : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    internal static ILoggerFactory CreateLoggerFactory(LogOptions options)
    {
        var level = Enum.Parse<LogLevel>(options.Level, ignoreCase: true);
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(level);
            b.AddFilter("Microsoft", LogLevel.Warning);
            if (options.Format.Equals("json", StringComparison.OrdinalIgnoreCase))
            {
                b.AddJsonConsole(o =>
                {
                    o.IncludeScopes = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                });
            }
            else
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.IncludeScopes = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
                });
            }
        });
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Postern started on {Hostname} with data folder {DataFolder} in {ElapsedMs} ms")]
    private static partial void LogStarted(ILogger logger, string hostname, string dataFolder, long elapsedMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Stopping: no new connections; sessions in progress have {Seconds} s to finish")]
    private static partial void LogStopping(ILogger logger, double seconds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Second stop signal: exiting at once")]
    private static partial void LogImmediateExit(ILogger logger);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Configuration and certificates reloaded")]
    private static partial void LogReloaded(ILogger logger);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Maintenance: {Expunged} messages expunged, {Blobs} blobs ({Bytes} bytes) deleted, {LogRecords} log records past retention deleted")]
    private static partial void LogMaintenance(ILogger logger, int expunged, int blobs, long bytes, long logRecords);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "Maintenance pass failed")]
    private static partial void LogMaintenanceFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "Blob files left by an interrupted write removed: {Count}")]
    private static partial void LogOrphansSwept(ILogger logger, int count);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "SMTP sessions at stop: {Finished} finished, {ToldToGo} told to go (421 4.3.2), {Aborted} aborted")]
    private static partial void LogSessionsStopped(ILogger logger, int finished, int toldToGo, int aborted);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "SRS secrets changed in the store: {Count} now in force (the first signs)")]
    private static partial void LogSrsKeysChanged(ILogger logger, int count);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "SRS secrets could not be re-read; the ones in force are kept")]
    private static partial void LogSrsRefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Reload refused, keeping the running configuration: {Problem}")]
    private static partial void LogReloadFailed(ILogger logger, string problem);
}
