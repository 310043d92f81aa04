using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy.EndToEnd;

/// <summary>
/// MTA-STS discovery and fetching against Python's HTTPS server (see <see cref="PythonPolicyServer"/>) serving a
/// certificate from a test CA. Names resolve through an in-process <see cref="IDnsResolver"/>: example.test is not
/// in any real DNS, so a successful fetch also shows that the operating system's resolver was not used.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MtaStsEndToEndTests : IAsyncLifetime, IDisposable
{
    private const string Domain = "example.test";
    private const string Policy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.backup.example.test\r\nmax_age: 86400\r\n";
    private readonly TestPki _pki = new("MTA-STS Test");
    private readonly X509Certificate2 _leaf;
    private readonly FakeDns _dns = new();
    private readonly ManualClock _clock = new(TestPki.Now);
    private PythonPolicyServer _server = null!;

    public MtaStsEndToEndTests()
    {
        _leaf = _pki.Leaf(["mta-sts." + Domain]);
        _dns.SetTxt("_mta-sts." + Domain, "v=spf1 -all", "v=STSv1; id=20260301T1200;");
        _dns.SetA("mta-sts." + Domain, IPAddress.Loopback);
    }

    public async Task InitializeAsync()
    {
        _server = await PythonPolicyServer.StartAsync(_leaf, _pki.Intermediate);
        await _server.RespondAsync(Policy);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _leaf.Dispose();
        _pki.Dispose();
    }

    private MtaStsPolicyFetcher Fetcher(X509Certificate2Collection? roots = null, bool systemRoots = false, TimeSpan? timeout = null, int? port = null) =>
        new(_dns, new MtaStsFetcherOptions
        {
            HttpsPort = port ?? _server.Port,
            TrustRoots = systemRoots ? null : roots ?? _pki.Roots,
            Time = _clock,
            Timeout = timeout ?? TimeSpan.FromSeconds(20),
        });

    [Fact]
    public async Task Policy_is_fetched_over_HTTPS_then_served_from_the_cache()
    {
        using var fetcher = Fetcher();
        using var cache = new MtaStsCache(fetcher, time: _clock);

        var first = await cache.GetPolicyAsync(Domain);
        var second = await cache.GetPolicyAsync(Domain);

        Assert.True(first.Source == MtaStsLookupSource.Fetched, first.Error);
        Assert.Equal(MtaStsMode.Enforce, first.Policy!.Mode);
        Assert.Equal(["mx1.example.test", "*.backup.example.test"], first.Policy.MxPatterns);
        Assert.Equal("20260301T1200", first.Entry!.Id);
        Assert.Equal(MtaStsLookupSource.Cache, second.Source);
        Assert.Equal(["/.well-known/mta-sts.txt"], _server.Requests);
        Assert.True(first.Policy.MatchesMx("a.backup.example.test"));
    }

    [Fact]
    public async Task A_new_TXT_id_fetches_the_new_policy()
    {
        using var fetcher = Fetcher();
        using var cache = new MtaStsCache(fetcher, time: _clock);
        await cache.GetPolicyAsync(Domain);

        await _server.RespondAsync("version: STSv1\nmode: testing\nmx: mx9.example.test\nmax_age: 3600\n");
        _dns.SetTxt("_mta-sts." + Domain, "v=STSv1; id=20260302;");
        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.Fetched, result.Source);
        Assert.Equal(MtaStsMode.Testing, result.Policy!.Mode);
        Assert.Equal(TimeSpan.FromHours(1), result.Policy.MaxAge);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task With_the_server_down_the_cached_policy_is_kept()
    {
        using var fetcher = Fetcher();
        using var cache = new MtaStsCache(fetcher, time: _clock);
        await cache.GetPolicyAsync(Domain);

        await _server.StopAsync();
        _dns.SetTxt("_mta-sts." + Domain, "v=STSv1; id=changed;");
        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.CacheAfterFailure, result.Source);
        Assert.Equal(MtaStsMode.Enforce, result.ApplicablePolicy!.Mode);
        Assert.NotNull(result.Error);
        Assert.Equal(MtaStsFetchFailure.Connect, (await fetcher.FetchPolicyAsync(Domain)).Failure);
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("application/octet-stream")]
    [InlineData(null)]
    public async Task A_policy_that_is_not_text_plain_is_refused(string? contentType)
    {
        await _server.RespondAsync(Policy, contentType);
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.ContentType, result.Failure);
        Assert.Null(result.Policy);
    }

    [Fact]
    public async Task Text_plain_with_a_charset_is_accepted()
    {
        await _server.RespondAsync(Policy, "Text/Plain; charset=utf-8");
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.True(result.IsSuccess, result.Error);
    }

    [Fact]
    public async Task A_certificate_from_a_CA_we_do_not_trust_is_refused()
    {
        using var other = new TestPki("Someone Else");
        using var fetcher = Fetcher(other.Roots);
        using var system = Fetcher(systemRoots: true);

        var withOtherRoot = await fetcher.FetchPolicyAsync(Domain);
        var withSystemRoots = await system.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.Tls, withOtherRoot.Failure);
        Assert.Equal(MtaStsFetchFailure.Tls, withSystemRoots.Failure);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task A_certificate_for_another_host_is_refused()
    {
        // mta-sts.other.test resolves to the same server, whose certificate names mta-sts.example.test only.
        _dns.SetA("mta-sts.other.test", IPAddress.Loopback);
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync("other.test");

        Assert.Equal(MtaStsFetchFailure.Tls, result.Failure);
    }

    [Fact]
    public async Task An_expired_certificate_is_refused()
    {
        _clock.Advance(TimeSpan.FromDays(90));
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.Tls, result.Failure);
    }

    [Fact]
    public async Task A_redirect_is_not_followed()
    {
        await _server.RespondAsync(Policy, status: 301, location: $"https://mta-sts.{Domain}:{_server.Port}/elsewhere");
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.Redirect, result.Failure);
        Assert.Equal(["/.well-known/mta-sts.txt"], _server.Requests);
    }

    [Fact]
    public async Task A_404_is_a_failure()
    {
        await _server.RespondAsync("not here", status: 404);
        using var fetcher = Fetcher();

        Assert.Equal(MtaStsFetchFailure.HttpStatus, (await fetcher.FetchPolicyAsync(Domain)).Failure);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_over_64_KiB_is_refused_with_or_without_a_length(bool omitLength)
    {
        var big = Policy + new string('#', 70 * 1024) + "\n";
        await _server.RespondAsync(big, omitLength: omitLength);
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.TooLarge, result.Failure);
    }

    [Fact]
    public async Task A_body_just_under_the_limit_without_a_length_is_read_whole()
    {
        await _server.RespondAsync(Policy + "comment: " + new string('x', 60 * 1024) + "\n", omitLength: true);
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.True(result.IsSuccess, result.Error);
    }

    [Fact]
    public async Task An_invalid_policy_is_refused_with_the_parsers_reason()
    {
        await _server.RespondAsync("version: STSv1\nmode: enforce\nmax_age: 86400\n");
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.InvalidPolicy, result.Failure);
        Assert.Contains("no mx field", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discovery_reads_the_TXT_record_through_our_resolver()
    {
        using var fetcher = Fetcher();

        var found = await fetcher.DiscoverAsync(Domain);
        var missing = await fetcher.DiscoverAsync("nothing.test");

        Assert.Equal((MtaStsDiscoveryStatus.Found, "20260301T1200"), (found.Status, found.Id));
        Assert.Equal(MtaStsDiscoveryStatus.NoRecord, missing.Status);
    }

    [Fact]
    public async Task A_policy_host_that_does_not_resolve_is_a_connection_failure()
    {
        using var fetcher = Fetcher();

        var result = await fetcher.FetchPolicyAsync("unresolvable.test");

        Assert.Equal(MtaStsFetchFailure.Connect, result.Failure);
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        using var fetcher = Fetcher(timeout: TimeSpan.FromSeconds(1), port: ((IPEndPoint)silent.LocalEndpoint).Port);

        var started = DateTime.UtcNow;
        var result = await fetcher.FetchPolicyAsync(Domain);

        Assert.Equal(MtaStsFetchFailure.Timeout, result.Failure);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));
    }
}
