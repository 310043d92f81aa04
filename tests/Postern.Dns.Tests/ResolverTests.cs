using System.Net;

namespace Postern.Dns.Tests;

/// <summary>The stub resolver against in-process fake servers on 127.0.0.1.</summary>
public class ResolverTests
{
    private static readonly IPAddress Web = IPAddress.Parse("192.0.2.80");

    private static DnsStubResolver Resolver(params FakeDnsServer[] servers) => Resolver(servers, null);

    private static DnsStubResolver Resolver(FakeDnsServer[] servers, Func<DnsResolverOptions, DnsResolverOptions>? tweak,
        TimeProvider? time = null)
    {
        var options = new DnsResolverOptions
        {
            Servers = [.. servers.Select(s => s.EndPoint)],
            Timeout = TimeSpan.FromSeconds(5),
            Attempts = 1,
            ResolvConfPath = "/nonexistent",
        };
        return new DnsStubResolver(tweak?.Invoke(options) ?? options, time);
    }

    private static DnsResolverOptions Short(DnsResolverOptions o) => new()
    {
        Servers = o.Servers,
        Timeout = TimeSpan.FromMilliseconds(300),
        Attempts = o.Attempts,
        ResolvConfPath = o.ResolvConfPath,
    };

    [Fact]
    public async Task A_records_are_returned_with_ttl_and_answering_server()
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 120, Web)]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("www.example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal(Web, Assert.IsType<ARecord>(Assert.Single(result.Records)).Address);
        Assert.Equal(TimeSpan.FromSeconds(120), result.TimeToLive);
        Assert.Equal(server.EndPoint, result.Server);
        Assert.Equal("www.example.com", result.CanonicalName);
    }

    [Fact]
    public async Task Query_sets_RD_and_AD_and_advertises_1232_bytes_with_EDNS0()
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 1, Web)]);
        using var resolver = Resolver(server);

        await resolver.ResolveAsync("example.com", DnsRecordType.A);

        var query = Assert.Single(server.Received).Message;
        Assert.True(query.RecursionDesired);
        Assert.True(query.AuthenticData);
        Assert.False(query.CheckingDisabled);
        Assert.Equal(1232, query.Opt!.UdpPayloadSize);
        Assert.Equal(new DnsQuestion("example.com", DnsRecordType.A), Assert.Single(query.Questions));
    }

    [Fact]
    public async Task Each_query_uses_a_new_id_and_source_port()
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 0, Web)]);
        using var resolver = Resolver(server);

        for (var i = 0; i < 6; i++)
        {
            Assert.True((await resolver.ResolveAsync($"host{i}.example.com", DnsRecordType.A)).IsSuccess);
        }

        var queries = server.Received.ToArray();
        Assert.True(queries.Select(q => q.Message.Id).Distinct().Count() > 1, "query ids never change");
        Assert.True(queries.Select(q => q.From.Port).Distinct().Count() > 1, "source port never changes");
    }

    [Fact]
    public async Task Answers_with_the_wrong_id_or_question_are_ignored_and_the_real_one_is_used()
    {
        await using var server = new FakeDnsServer(q => [
            FakeDnsServer.Reply(q.Message, answers: [new ARecord("example.com", 1, IPAddress.Parse("203.0.113.66"))],
                id: (ushort)(q.Message.Id ^ 0x5555)),
            FakeDnsServer.Reply(q.Message, answers: [new ARecord("evil.example", 1, IPAddress.Parse("203.0.113.66"))],
                question: new DnsQuestion("evil.example", DnsRecordType.A)),
            FakeDnsServer.Reply(q.Message, answers: [new AaaaRecord("example.com", 1, IPAddress.IPv6Loopback)],
                question: new DnsQuestion("example.com", DnsRecordType.AAAA)),
            FakeDnsServer.Reply(q.Message, answers: [new ARecord("example.com", 1, Web)]),
        ]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(Web, Assert.IsType<ARecord>(Assert.Single(result.Records)).Address);
    }

    [Fact]
    public async Task Only_mismatched_answers_end_in_timeout()
    {
        await using var server = new FakeDnsServer(q => [
            FakeDnsServer.Reply(q.Message, answers: [new ARecord("example.com", 1, Web)], id: (ushort)(q.Message.Id + 1)),
        ]);
        using var resolver = Resolver([server], Short);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Timeout, result.Status);
        Assert.Empty(result.Records);
    }

    [Fact]
    public async Task Silent_server_times_out_on_every_attempt()
    {
        await using var server = new FakeDnsServer(_ => []);
        using var resolver = Resolver([server], o => Short(new DnsResolverOptions { Servers = o.Servers, Attempts = 2, ResolvConfPath = o.ResolvConfPath }));

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Timeout, result.Status);
        await WaitForCountAsync(() => server.UdpQueries, 2);
        Assert.Equal(2, server.UdpQueries);
    }

    [Fact]
    public async Task Silent_first_server_is_followed_by_the_second()
    {
        await using var silent = new FakeDnsServer(_ => []);
        await using var good = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver([silent, good], Short);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal(1, silent.UdpQueries);
        Assert.Equal(good.EndPoint, result.Server);
    }

    [Fact]
    public async Task SERVFAIL_from_the_first_server_is_retried_on_the_second()
    {
        await using var failing = new FakeDnsServer(q => [FakeDnsServer.Reply(q.Message, DnsResponseCode.ServerFailure)]);
        await using var good = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver(failing, good);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal(1, failing.UdpQueries);
    }

    [Theory]
    [InlineData(DnsResponseCode.ServerFailure, DnsStatus.ServerFailure, 1)]
    [InlineData(DnsResponseCode.Refused, DnsStatus.Refused, 1)]
    [InlineData(DnsResponseCode.FormatError, DnsStatus.FormatError, 2)] // asked again without EDNS
    [InlineData(DnsResponseCode.NotImplemented, DnsStatus.NotImplemented, 1)]
    public async Task Error_rcodes_from_every_server_are_reported(DnsResponseCode rcode, DnsStatus expected, int queriesEach)
    {
        await using var a = new FakeDnsServer(q => [FakeDnsServer.Reply(q.Message, rcode)]);
        await using var b = new FakeDnsServer(q => [FakeDnsServer.Reply(q.Message, rcode)]);
        using var resolver = Resolver(a, b);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.MX);

        Assert.Equal(expected, result.Status);
        Assert.True(result.Status.IsTemporaryFailure());
        Assert.Equal((queriesEach, queriesEach), (a.UdpQueries, b.UdpQueries));
    }

    [Fact]
    public async Task Truncated_UDP_answer_is_fetched_again_over_TCP()
    {
        var strings = Enumerable.Range(0, 10).Select(i => new string((char)('a' + i), 250)).ToArray();
        await using var server = new FakeDnsServer(q => q.Tcp
            ? [FakeDnsServer.Reply(q.Message, answers: [TxtRecord.FromStrings("big.example.com", 60, strings)])]
            : [FakeDnsServer.Reply(q.Message, truncated: true)]);
        using var resolver = Resolver(server);

        var result = await resolver.GetTxtAsync("big.example.com");

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal(string.Concat(strings), Assert.Single(result.Values).Text);
        Assert.Equal((1, 1), (server.UdpQueries, server.TcpQueries));
    }

    [Fact]
    public async Task Truncated_answer_whose_TCP_retry_gets_no_reply_times_out()
    {
        var never = new TaskCompletionSource<IReadOnlyList<byte[]>>();
        await using var server = new FakeDnsServer(q => q.Tcp
            ? never.Task
            : Task.FromResult<IReadOnlyList<byte[]>>([FakeDnsServer.Reply(q.Message, truncated: true)]));
        using var resolver = Resolver([server], Short);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.TXT);

        Assert.Equal(DnsStatus.Timeout, result.Status);
        await WaitForCountAsync(() => server.TcpQueries, 1);
        Assert.Equal(1, server.TcpQueries);
        never.SetResult([]);
    }

    [Fact]
    public async Task Truncated_answer_whose_TCP_connection_closes_is_a_network_error()
    {
        await using var server = new FakeDnsServer(q => q.Tcp ? [] : [FakeDnsServer.Reply(q.Message, truncated: true)]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.TXT);

        Assert.Equal(DnsStatus.NetworkError, result.Status);
        Assert.Contains("closed", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TCP_only_option_never_uses_UDP()
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver([server], o => new DnsResolverOptions
        {
            Servers = o.Servers,
            Attempts = 1,
            TcpOnly = true,
            ResolvConfPath = o.ResolvConfPath,
        });

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.True(result.IsSuccess);
        Assert.Equal((0, 1), (server.UdpQueries, server.TcpQueries));
    }

    [Fact]
    public async Task Malformed_answer_with_our_id_is_reported_as_such()
    {
        await using var server = new FakeDnsServer(q =>
        {
            var good = FakeDnsServer.Reply(q.Message, answers: [new ARecord("example.com", 1, Web)]);
            return [good[..^3]]; // cut inside the A record
        });
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.MalformedResponse, result.Status);
        Assert.Contains("past the end", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Closed_port_is_a_network_error_not_an_exception()
    {
        int port;
        using (var probe = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        using var resolver = new DnsStubResolver(new DnsResolverOptions
        {
            Servers = [new IPEndPoint(IPAddress.Loopback, port)],
            Attempts = 1,
            Timeout = TimeSpan.FromSeconds(5),
        });

        var result = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.NetworkError, result.Status);
    }

    [Fact]
    public async Task CNAME_chain_in_the_answer_is_followed_to_the_final_name()
    {
        await using var server = FakeDnsServer.Answering(q => [
            new CnameRecord("www.example.com", 300, "web.example.com"),
            new CnameRecord("web.example.com", 100, "cdn.example.net"),
            new ARecord("cdn.example.net", 200, Web),
        ]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("www.example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal("cdn.example.net", result.CanonicalName);
        Assert.Equal(["web.example.com", "cdn.example.net"], result.CnameChain.Select(c => c.Target));
        Assert.Equal(TimeSpan.FromSeconds(100), result.TimeToLive);
        Assert.Equal(1, server.UdpQueries);
    }

    [Fact]
    public async Task CNAME_without_its_target_data_is_followed_with_a_new_query()
    {
        await using var server = FakeDnsServer.Answering(q => q.Name == "www.example.com"
            ? [new CnameRecord("www.example.com", 300, "web.example.net")]
            : [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver(server);

        var result = await resolver.GetAddressesAsync("www.example.com");

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal("web.example.net", result.CanonicalName);
        Assert.Contains(Web, result.Values);
        Assert.Contains(server.Received, q => q.Message.Questions[0].Name == "web.example.net");
    }

    [Fact]
    public async Task CNAME_loop_ends_with_CnameLoop()
    {
        await using var server = FakeDnsServer.Answering(q => q.Name == "a.example.com"
            ? [new CnameRecord("a.example.com", 300, "b.example.com")]
            : [new CnameRecord("b.example.com", 300, "a.example.com")]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("a.example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.CnameLoop, result.Status);
    }

    [Fact]
    public async Task Long_CNAME_chain_stops_at_the_limit()
    {
        await using var server = FakeDnsServer.Answering(q =>
        {
            var n = int.Parse(q.Name.Split('.')[0][1..], System.Globalization.CultureInfo.InvariantCulture);
            return [new CnameRecord(q.Name, 60, $"c{n + 1}.example.com")];
        });
        using var resolver = Resolver([server], o => new DnsResolverOptions
        {
            Servers = o.Servers,
            Attempts = 1,
            MaxCnameChain = 4,
            ResolvConfPath = o.ResolvConfPath,
        });

        var result = await resolver.ResolveAsync("c0.example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.CnameLoop, result.Status);
        Assert.True(server.UdpQueries <= 5);
    }

    [Fact]
    public async Task NXDOMAIN_and_NODATA_are_told_apart()
    {
        await using var server = new FakeDnsServer(q => q.Message.Questions[0].Name.StartsWith("missing", StringComparison.Ordinal)
            ? [FakeDnsServer.Reply(q.Message, DnsResponseCode.NameError, authorities: [FakeDnsServer.Soa("example.com", 300, 60)])]
            : [FakeDnsServer.Reply(q.Message, authorities: [FakeDnsServer.Soa("example.com", 300, 60)])]);
        using var resolver = Resolver(server);

        var missing = await resolver.ResolveAsync("missing.example.com", DnsRecordType.A);
        var empty = await resolver.ResolveAsync("www.example.com", DnsRecordType.MX);

        Assert.Equal(DnsStatus.NxDomain, missing.Status);
        Assert.Equal(DnsStatus.NoData, empty.Status);
        Assert.Equal(TimeSpan.FromSeconds(60), empty.TimeToLive);
        Assert.True(missing.Status.IsDefinitive());
    }

    [Fact]
    public async Task Unicode_names_are_sent_as_A_labels_and_case_does_not_matter()
    {
        await using var server = FakeDnsServer.Answering(q => [new MxRecord(q.Name.ToUpperInvariant(), 60, 10, "mx.example")]);
        using var resolver = Resolver(server);

        var result = await resolver.GetMxAsync("Bücher.Example");

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal("xn--bcher-kva.example", result.Name);
        Assert.Equal("xn--bcher-kva.example", server.Received.Single().Message.Questions[0].Name);
        Assert.Equal("mx.example", Assert.Single(result.Values).Exchange);
    }

    [Theory]
    [InlineData("a..example.com")]
    [InlineData("with space.example")]
    [InlineData("")]
    public async Task Invalid_names_send_nothing(string name)
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync(name, DnsRecordType.A);
        var tooLong = await resolver.ResolveAsync(new string('x', 64) + ".example", DnsRecordType.A);

        Assert.Equal(DnsStatus.InvalidName, result.Status);
        Assert.Equal(DnsStatus.InvalidName, tooLong.Status);
        Assert.Equal(0, server.TotalQueries);
    }

    [Fact]
    public async Task AD_bit_from_a_loopback_server_is_trusted()
    {
        await using var server = new FakeDnsServer(q => [FakeDnsServer.Reply(q.Message, answers: [new ARecord("signed.example", 60, Web)], ad: q.Message.Questions[0].Name == "signed.example")]);
        using var resolver = Resolver(server);

        var signed = await resolver.ResolveAsync("signed.example", DnsRecordType.A);
        var unsigned = await resolver.ResolveAsync("unsigned.example", DnsRecordType.A);

        Assert.True(signed.AuthenticData);
        Assert.True(signed.IsAuthenticated);
        Assert.False(unsigned.AuthenticData);
        Assert.False(unsigned.IsAuthenticated);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.0.0.53", true)]
    [InlineData("::1", true)]
    [InlineData("10.0.0.1", false)]
    [InlineData("192.0.2.53", false)]
    [InlineData("2001:db8::53", false)]
    public void AD_bit_is_trusted_only_from_loopback_servers(string address, bool trusted)
    {
        Assert.Equal(trusted, DnsStubResolver.IsTrustedServer(new IPEndPoint(IPAddress.Parse(address), 53)));
    }

    [Fact]
    public async Task Caller_cancellation_throws_OperationCanceledException()
    {
        await using var server = new FakeDnsServer(_ => []);
        using var resolver = Resolver(server);
        using var cts = new CancellationTokenSource();

        var pending = resolver.ResolveAsync("example.com", DnsRecordType.A, cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }

    [Fact]
    public async Task Server_without_EDNS_that_answers_FORMERR_is_asked_again_without_OPT()
    {
        await using var server = new FakeDnsServer(q => q.Message.Opt is not null
            ? [FakeDnsServer.Reply(q.Message, DnsResponseCode.FormatError)]
            : [FakeDnsServer.Reply(q.Message, answers: [new ARecord("old.example", 60, Web)])]);
        using var resolver = Resolver(server);

        var result = await resolver.ResolveAsync("old.example", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal([true, false], server.Received.Select(q => q.Message.Opt is not null));
    }

    [Fact]
    public async Task Already_cancelled_token_gives_a_cancelled_task_and_sends_nothing()
    {
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver(server);

        var task = resolver.ResolveAsync("example.com", DnsRecordType.A, new CancellationToken(canceled: true));

        Assert.True(task.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.Equal(0, server.TotalQueries);
    }

    [Fact]
    public async Task Disposing_ends_queries_in_flight_and_refuses_new_ones()
    {
        await using var server = new FakeDnsServer(_ => []);
        var resolver = Resolver(server);

        var pending = resolver.ResolveAsync("example.com", DnsRecordType.A);
        resolver.Dispose();
        var result = await pending;

        Assert.Equal(DnsStatus.NetworkError, result.Status);
        Assert.Equal("resolver disposed", result.Error);
        Assert.Throws<ObjectDisposedException>(() => { _ = resolver.ResolveAsync("example.com", DnsRecordType.A); });
    }

    [Fact]
    public async Task MX_records_are_sorted_by_preference()
    {
        await using var server = FakeDnsServer.Answering(q => [
            new MxRecord(q.Name, 60, 30, "c.example"), new MxRecord(q.Name, 60, 10, "a.example"), new MxRecord(q.Name, 60, 20, "b.example"),
        ]);
        using var resolver = Resolver(server);

        var result = await resolver.GetMxAsync("example.com");

        Assert.Equal(["a.example", "b.example", "c.example"], result.Values.Select(m => m.Exchange));
    }

    [Fact]
    public async Task Addresses_combine_A_and_AAAA()
    {
        var v6 = IPAddress.Parse("2001:db8::80");
        await using var server = FakeDnsServer.Answering(q => q.Type == DnsRecordType.A
            ? [new ARecord(q.Name, 60, Web)]
            : [new AaaaRecord(q.Name, 30, v6)]);
        using var resolver = Resolver(server);

        var result = await resolver.GetAddressesAsync("example.com");

        Assert.Equal([Web, v6], result.Values);
        Assert.Equal(TimeSpan.FromSeconds(30), result.TimeToLive);
    }

    [Fact]
    public async Task Addresses_of_a_missing_name_are_NXDOMAIN()
    {
        await using var server = new FakeDnsServer(q => [FakeDnsServer.Reply(q.Message, DnsResponseCode.NameError, authorities: [FakeDnsServer.Soa("example.com", 60, 60)])]);
        using var resolver = Resolver(server);

        var result = await resolver.GetAddressesAsync("nowhere.example.com");

        Assert.Equal(DnsStatus.NxDomain, result.Status);
        Assert.Empty(result.Values);
    }

    [Fact]
    public async Task PTR_lookup_asks_the_reverse_name()
    {
        await using var server = FakeDnsServer.Answering(q => [new PtrRecord(q.Name, 60, "web.example.com")]);
        using var resolver = Resolver(server);

        var result = await resolver.GetPtrAsync(Web);

        Assert.Equal(["web.example.com"], result.Values);
        Assert.Equal("80.2.0.192.in-addr.arpa", server.Received.Single().Message.Questions[0].Name);
    }

    [Fact]
    public async Task SRV_records_are_sorted_by_priority_then_weight()
    {
        await using var server = FakeDnsServer.Answering(q => [
            new SrvRecord(q.Name, 60, 20, 0, 993, "c.example"), new SrvRecord(q.Name, 60, 10, 5, 993, "b.example"),
            new SrvRecord(q.Name, 60, 10, 50, 993, "a.example"),
        ]);
        using var resolver = Resolver(server);

        var result = await resolver.GetSrvAsync("_imaps._tcp.example.com");

        Assert.Equal(["a.example", "b.example", "c.example"], result.Values.Select(s => s.Target));
    }

    [Fact]
    public async Task TLSA_records_are_returned_with_their_fields()
    {
        byte[] hash = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
        await using var server = FakeDnsServer.Answering(q => [new TlsaRecord(q.Name, 60, 3, 1, 1, hash)]);
        using var resolver = Resolver(server);

        var result = await resolver.GetTlsaAsync(DnsName.TlsaName("mx.example.com", 25));

        var tlsa = Assert.Single(result.Values);
        Assert.Equal((3, 1, 1), (tlsa.CertificateUsage, tlsa.Selector, tlsa.MatchingType));
        Assert.Equal(hash, tlsa.CertificateAssociationData);
        Assert.Equal("_25._tcp.mx.example.com", server.Received.Single().Message.Questions[0].Name);
    }

    /// <summary>
    /// The fake server counts a query once its receive loop has read it, which on a loaded machine can come
    /// after the resolver's short timeout: wait for the count (the guard only stops a test that would hang).
    /// </summary>
    private static async Task WaitForCountAsync(Func<int> count, int expected)
    {
        var guard = DateTime.UtcNow.AddSeconds(10);
        while (count() < expected && DateTime.UtcNow < guard)
        {
            await Task.Delay(10);
        }
    }
}
