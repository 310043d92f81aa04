using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Dns;

namespace Postern.Delivery.TlsPolicy;

/// <summary>What the <c>_mta-sts</c> TXT look-up found. Persisted values: do not renumber.</summary>
public enum MtaStsDiscoveryStatus
{
    /// <summary>Exactly one <c>v=STSv1</c> record with an id.</summary>
    Found = 0,

    /// <summary>No <c>v=STSv1</c> record (the name or the TXT records do not exist, or none starts with v=STSv1).</summary>
    NoRecord = 1,

    /// <summary>More than one <c>v=STSv1</c> record, or one that does not parse: treated as no policy (RFC 8461 §3.1).</summary>
    Invalid = 2,

    /// <summary>The DNS look-up failed (SERVFAIL, timeout...).</summary>
    LookupFailed = 3,
}

/// <summary>The outcome of looking up <c>_mta-sts.&lt;domain&gt;</c>.</summary>
public sealed record MtaStsDiscovery(MtaStsDiscoveryStatus Status, string? Id, string? Error)
{
    /// <summary>Turns the TXT answer into a discovery result (RFC 8461 §3.1).</summary>
    public static MtaStsDiscovery FromTxt(DnsResult<TxtRecord> txt)
    {
        ArgumentNullException.ThrowIfNull(txt);
        if (txt.Status is DnsStatus.NxDomain or DnsStatus.NoData)
        {
            return new MtaStsDiscovery(MtaStsDiscoveryStatus.NoRecord, null, null);
        }

        if (!txt.IsSuccess)
        {
            return new MtaStsDiscovery(MtaStsDiscoveryStatus.LookupFailed, null,
                $"TXT look-up of _mta-sts.{txt.Name}: {txt.Status} {txt.Error}".TrimEnd());
        }

        var candidates = txt.Values.Select(v => v.Text).Where(MtaStsTxtRecord.IsStsRecord).ToList();
        if (candidates.Count == 0)
        {
            return new MtaStsDiscovery(MtaStsDiscoveryStatus.NoRecord, null, null);
        }

        if (candidates.Count > 1)
        {
            return new MtaStsDiscovery(MtaStsDiscoveryStatus.Invalid, null, $"{candidates.Count} v=STSv1 TXT records");
        }

        return MtaStsTxtRecord.TryParse(candidates[0], out var record, out var error)
            ? new MtaStsDiscovery(MtaStsDiscoveryStatus.Found, record!.Id, null)
            : new MtaStsDiscovery(MtaStsDiscoveryStatus.Invalid, null, "TXT record: " + error);
    }
}

/// <summary>Why a policy fetch failed. Persisted values: do not renumber.</summary>
public enum MtaStsFetchFailure
{
    /// <summary>It did not fail.</summary>
    None = 0,

    /// <summary>The domain is not a valid host name.</summary>
    InvalidDomain = 1,

    /// <summary>The policy host's address could not be resolved, or no address accepted a connection.</summary>
    Connect = 2,

    /// <summary>The TLS handshake failed, including a certificate that does not verify for <c>mta-sts.&lt;domain&gt;</c>.</summary>
    Tls = 3,

    /// <summary>The server answered a redirect (never followed, RFC 8461 §3.3).</summary>
    Redirect = 4,

    /// <summary>The status code was not 200.</summary>
    HttpStatus = 5,

    /// <summary>The media type was not <c>text/plain</c>.</summary>
    ContentType = 6,

    /// <summary>The body is larger than the limit.</summary>
    TooLarge = 7,

    /// <summary>The fetch took longer than the timeout.</summary>
    Timeout = 8,

    /// <summary>The body is not a valid policy.</summary>
    InvalidPolicy = 9,

    /// <summary>Another HTTP or I/O error.</summary>
    Other = 10,
}

/// <summary>The outcome of fetching a policy over HTTPS: the policy and its text, or why not.</summary>
public sealed record MtaStsFetchResult(MtaStsPolicy? Policy, string? PolicyText, MtaStsFetchFailure Failure, string? Error)
{
    /// <summary>True when a valid policy was fetched.</summary>
    public bool IsSuccess => Policy is not null;

    internal static MtaStsFetchResult Fail(MtaStsFetchFailure failure, string error) => new(null, null, failure, error);
}

/// <summary>
/// Discovers and fetches MTA-STS policies: the DNS half and the HTTPS half of RFC 8461 §3. <see cref="MtaStsCache"/>
/// decides when to call which; tests put a fake in its place.
/// </summary>
public interface IMtaStsPolicyFetcher
{
    /// <summary>Looks up the TXT record at <c>_mta-sts.&lt;domain&gt;</c>.</summary>
    Task<MtaStsDiscovery> DiscoverAsync(string domain, CancellationToken cancellationToken = default);

    /// <summary>Fetches and parses <c>https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt</c>.</summary>
    Task<MtaStsFetchResult> FetchPolicyAsync(string domain, CancellationToken cancellationToken = default);
}

/// <summary>Settings of <see cref="MtaStsPolicyFetcher"/>.</summary>
public sealed record MtaStsFetcherOptions
{
    /// <summary>The HTTPS port of policy hosts: 443; tests point it at a local server.</summary>
    public int HttpsPort { get; init; } = 443;

    /// <summary>The whole fetch, connection to last byte (RFC 8461 §3.3 suggests no more than a minute).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The TCP connection, per address tried.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest policy body accepted: 64 KiB.</summary>
    public int MaxPolicyBytes { get; init; } = 64 * 1024;

    /// <summary>The roots the policy host's certificate must chain to; null for the system's roots.</summary>
    public X509Certificate2Collection? TrustRoots { get; init; }

    /// <summary>The clock certificates are checked against.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The User-Agent header sent.</summary>
    public string UserAgent { get; init; } = "Postern-MTA-STS/1";
}

/// <summary>
/// The real fetcher. TXT records come from the given <see cref="IDnsResolver"/>, and so do the policy host's
/// addresses (the HTTP connection is opened by a connect callback; the operating system's resolver and any
/// proxy settings are never used). Redirects are not followed, the body is limited, the media type must be
/// <c>text/plain</c> (parameters such as charset are ignored), and the certificate must chain to the trust
/// roots and name <c>mta-sts.&lt;domain&gt;</c>. Thread-safe; dispose it to close pooled connections.
/// </summary>
public sealed class MtaStsPolicyFetcher : IMtaStsPolicyFetcher, IDisposable
{
    private readonly IDnsResolver _resolver;
    private readonly MtaStsFetcherOptions _options;
    private readonly HttpClient _http;

    public MtaStsPolicyFetcher(IDnsResolver resolver, MtaStsFetcherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        _resolver = resolver;
        _options = options ?? new MtaStsFetcherOptions();
        if (_options.HttpsPort is <= 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "HttpsPort must be 1 to 65535.");
        }

        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(15),
            MaxResponseHeadersLength = 16,
            ConnectCallback = ConnectAsync,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = ValidateCertificate,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            },
        };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
    }

    /// <inheritdoc/>
    public async Task<MtaStsDiscovery> DiscoverAsync(string domain, CancellationToken cancellationToken = default)
    {
        var name = TlsHostName.Normalize(domain);
        if (!TlsHostName.IsLdhName(name))
        {
            return new MtaStsDiscovery(MtaStsDiscoveryStatus.Invalid, null, $"'{MtaStsPolicyParser.Shorten(domain)}' is not a domain name");
        }

        var txt = await _resolver.GetTxtAsync("_mta-sts." + name, cancellationToken).ConfigureAwait(false);
        return MtaStsDiscovery.FromTxt(txt);
    }

    /// <inheritdoc/>
    public async Task<MtaStsFetchResult> FetchPolicyAsync(string domain, CancellationToken cancellationToken = default)
    {
        var name = TlsHostName.Normalize(domain);
        if (!TlsHostName.IsLdhName(name))
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.InvalidDomain, $"'{MtaStsPolicyParser.Shorten(domain)}' is not a domain name");
        }

        var builder = new UriBuilder(Uri.UriSchemeHttps, "mta-sts." + name, _options.HttpsPort, "/.well-known/mta-sts.txt");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            request.Headers.UserAgent.ParseAdd(_options.UserAgent);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token)
                .ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                return MtaStsFetchResult.Fail(MtaStsFetchFailure.Redirect,
                    $"{builder.Uri} answered {status} (redirects are not followed, RFC 8461 §3.3)");
            }

            if (status != 200)
            {
                return MtaStsFetchResult.Fail(MtaStsFetchFailure.HttpStatus, $"{builder.Uri} answered {status}");
            }

            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (!string.Equals(mediaType, "text/plain", StringComparison.OrdinalIgnoreCase))
            {
                return MtaStsFetchResult.Fail(MtaStsFetchFailure.ContentType,
                    $"{builder.Uri} served '{MtaStsPolicyParser.Shorten(mediaType ?? "no media type")}', not text/plain");
            }

            if (response.Content.Headers.ContentLength > _options.MaxPolicyBytes)
            {
                return MtaStsFetchResult.Fail(MtaStsFetchFailure.TooLarge,
                    $"{builder.Uri} is {response.Content.Headers.ContentLength} bytes (limit {_options.MaxPolicyBytes})");
            }

            var body = await ReadLimitedAsync(response.Content, _options.MaxPolicyBytes, timeout.Token).ConfigureAwait(false);
            if (body is null)
            {
                return MtaStsFetchResult.Fail(MtaStsFetchFailure.TooLarge,
                    $"{builder.Uri} is larger than {_options.MaxPolicyBytes} bytes");
            }

            var text = new UTF8Encoding(false, false).GetString(body);
            var parsed = MtaStsPolicyParser.Parse(text);
            return parsed.Policy is null
                ? MtaStsFetchResult.Fail(MtaStsFetchFailure.InvalidPolicy, $"{builder.Uri}: {parsed.Error}")
                : new MtaStsFetchResult(parsed.Policy, text, MtaStsFetchFailure.None, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.Timeout, $"{builder.Uri}: no answer within {_options.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException)
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.Tls, $"{builder.Uri}: {e.InnerException.Message}");
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError)
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.Connect, $"{builder.Uri}: {e.Message}");
        }
        catch (HttpRequestException e)
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.Other, $"{builder.Uri}: {e.Message}");
        }
        catch (IOException e)
        {
            return MtaStsFetchResult.Fail(MtaStsFetchFailure.Other, $"{builder.Uri}: {e.Message}");
        }
    }

    public void Dispose() => _http.Dispose();

    private static async Task<byte[]?> ReadLimitedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[8192];
            while (true)
            {
                var read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return buffer.ToArray();
                }

                if (buffer.Length + read > limit)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }
        }
    }

    /// <summary>Opens the TCP connection to an address our resolver gives for the policy host, in order.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        IReadOnlyList<IPAddress> addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            var result = await _resolver.GetAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            if (!result.IsSuccess || result.Values.Count == 0)
            {
                throw new HttpRequestException(HttpRequestError.NameResolutionError,
                    $"cannot resolve {host}: {result.Status} {result.Error}".TrimEnd());
            }

            addresses = result.Values;
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException(HttpRequestError.ConnectionError,
            $"no address of {host} accepted a connection on port {port}: {last?.SocketErrorCode}", last);
    }

    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        // SslStream has matched the name against the request's host (mta-sts.<domain>); the chain is ours to
        // build, to the configured roots.
        if (certificate is not X509Certificate2 leaf
            || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        if (sender is SslStream { TargetHostName: { Length: > 0 } host } && CertificateChecks.MatchName(leaf, [host]) is null)
        {
            return false;
        }

        return CertificateChecks.BuildChain(leaf, CertificateChecks.Presented(leaf, chain), _options.TrustRoots,
            _options.Time.GetUtcNow()).IsValid;
    }
}
