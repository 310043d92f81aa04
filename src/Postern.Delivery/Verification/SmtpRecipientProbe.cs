using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Postern.Core.Tenants;
using Postern.Dns;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Client;

namespace Postern.Delivery.Verification;

/// <summary>
/// Verifies a recipient the way a callout does: connect to the domain's mail servers in priority order (equal
/// priorities in random order, the next one when a server cannot be reached or answers 4xx), EHLO, STARTTLS when
/// offered (opportunistic: any certificate will do, nothing secret is sent), <c>MAIL FROM:&lt;&gt;</c>, <c>RCPT TO</c>,
/// RSET and QUIT. No message is ever sent. Each connection is limited by <see cref="RecipientProbeOptions.ConnectTimeout"/>,
/// the whole probe by <see cref="RecipientProbeOptions.ProbeTimeout"/>.
/// </summary>
public sealed class SmtpRecipientProbe : IRecipientProbe
{
    private readonly RecipientProbeOptions _options;
    private readonly IDnsResolver? _dns;
    private readonly TimeProvider _time;
    private readonly SmtpClientOptions _client;

    /// <param name="options">Timeouts and our EHLO name.</param>
    /// <param name="dns">Resolves host names of the servers; null: the system resolver.</param>
    /// <param name="time">The clock for the timeouts.</param>
    public SmtpRecipientProbe(RecipientProbeOptions options, IDnsResolver? dns = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _dns = dns;
        _time = time ?? TimeProvider.System;
        var wait = options.ProbeTimeout;
        _client = new SmtpClientOptions
        {
            LocalHostname = options.LocalHostname,
            ConnectTimeout = options.ConnectTimeout,
            TlsHandshakeTimeout = wait,
            GreetingTimeout = wait,
            CommandTimeout = wait,
            MailTimeout = wait,
            RcptTimeout = wait,
            QuitTimeout = TimeSpan.FromSeconds(Math.Min(5, wait.TotalSeconds)),
        };
    }

    public async Task<RecipientProbeResult> ProbeAsync(IReadOnlyList<RelayHost> hosts, string recipient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(recipient);
        if (hosts.Count == 0)
        {
            return new RecipientProbeResult(RecipientStatus.Unavailable, "the domain has no mail servers to ask");
        }

        using var deadline = new CancellationTokenSource(_options.ProbeTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var problems = new List<string>();
        var answered = false;
        try
        {
            foreach (var host in InTryOrder(hosts))
            {
                var attempt = await TryHostAsync(host, recipient, linked.Token).ConfigureAwait(false);
                if (attempt.Result is { } result)
                {
                    return result;
                }

                answered |= attempt.Answered;
                problems.Add(attempt.Problem!);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"no answer within {_options.ProbeTimeout.TotalSeconds:0.#} s"));
        }

        return new RecipientProbeResult(RecipientStatus.Unavailable, string.Join("; ", problems)) { Unreachable = !answered };
    }

    /// <summary>Lowest priority first; hosts of equal priority in random order, so they share the probes.</summary>
    internal static IEnumerable<RelayHost> InTryOrder(IReadOnlyList<RelayHost> hosts) =>
        hosts.GroupBy(h => h.Priority).OrderBy(g => g.Key).SelectMany(g =>
        {
            var group = g.ToArray();
            Random.Shared.Shuffle(group);
            return group;
        });

    private async Task<Attempt> TryHostAsync(RelayHost host, string recipient, CancellationToken cancellationToken)
    {
        var name = Name(host);
        IReadOnlyList<IPAddress> addresses;
        if (IPAddress.TryParse(host.Host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            addresses = await ResolveAsync(host.Host, cancellationToken).ConfigureAwait(false);
            if (addresses.Count == 0)
            {
                return Attempt.Failed($"{name}: the name has no address", answered: false);
            }
        }

        Attempt last = Attempt.Failed($"{name}: not tried", answered: false);
        foreach (var address in addresses)
        {
            var socket = await ConnectAsync(address, host.Port, cancellationToken).ConfigureAwait(false);
            if (socket.Socket is null)
            {
                last = Attempt.Failed($"{name}: {socket.Problem}", answered: false);
                continue;
            }

            // One conversation per host: a server that answered (even 4xx) is not asked again through another address.
            return await ConverseAsync(host, name, socket.Socket, recipient, cancellationToken).ConfigureAwait(false);
        }

        return last;
    }

    private async Task<Attempt> ConverseAsync(RelayHost host, string name, Socket socket, string recipient, CancellationToken cancellationToken)
    {
        var session = new SmtpClientSession(new NetworkStream(socket, ownsSocket: true), _client, _time);
        await using (session.ConfigureAwait(false))
        {
            try
            {
                var greeting = await session.ReadGreetingAsync(cancellationToken).ConfigureAwait(false);
                if (greeting.Code != 220)
                {
                    return Attempt.Failed($"{name}: greeting {Describe(greeting)}", answered: true);
                }

                var hello = await session.EhloAsync(cancellationToken).ConfigureAwait(false);
                if (!hello.IsPositive)
                {
                    return Attempt.Failed($"{name}: EHLO {Describe(hello)}", answered: true);
                }

                if (session.Capabilities.StartTls)
                {
                    var tls = await session.StartTlsAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = host.Host,

                        // Opportunistic: a probe sends no secret and no message, so any certificate will do.
#pragma warning disable CA5359
                        RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
                    }, cancellationToken).ConfigureAwait(false);
                    if (tls.Established && tls.EhloReply is { IsPositive: false } again)
                    {
                        return Attempt.Failed($"{name}: EHLO after STARTTLS {Describe(again)}", answered: true);
                    }
                }

                var probe = await session.ProbeRecipientAsync(string.Empty, recipient, cancellationToken).ConfigureAwait(false);
                await QuitQuietlyAsync(session, cancellationToken).ConfigureAwait(false);
                return probe.Outcome switch
                {
                    SmtpProbeOutcome.Accepted => Attempt.Done(new RecipientProbeResult(RecipientStatus.Exists, $"{name} accepted it ({Describe(probe.Reply)})")),
                    SmtpProbeOutcome.Refused => Attempt.Done(new RecipientProbeResult(RecipientStatus.DoesNotExist, $"{name} refused it ({Describe(probe.Reply)})")),
                    _ => Attempt.Failed(probe.MailReply is { IsPositive: false } mail ? $"{name}: MAIL FROM:<> {Describe(mail)}" : $"{name}: RCPT {Describe(probe.Reply)}", answered: true),
                };
            }
            catch (SmtpConnectionException e)
            {
                return Attempt.Failed($"{name}: {e.Message}", answered: false);
            }
        }
    }

    private static async Task QuitQuietlyAsync(SmtpClientSession session, CancellationToken cancellationToken)
    {
        try
        {
            await session.QuitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The answer is known; how the conversation ends does not matter.
        }
    }

    private async Task<(Socket? Socket, string? Problem)> ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var limit = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), linked.Token).ConfigureAwait(false);
            return (socket, null);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return (null, $"cannot connect ({e.SocketErrorCode})");
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return (null, string.Create(CultureInfo.InvariantCulture, $"no connection within {_options.ConnectTimeout.TotalSeconds:0.#} s"));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (_dns is not null)
        {
            var answer = await _dns.GetAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            return answer.IsSuccess ? answer.Values : [];
        }

        try
        {
            return await System.Net.Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return [];
        }
    }

    private static string Name(RelayHost host) =>
        (host.Host.Contains(':', StringComparison.Ordinal) ? "[" + host.Host + "]" : host.Host) + ":" + host.Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>A reply for the log: code, enhanced code and the first line, shortened.</summary>
    private static string Describe(SmtpReply reply)
    {
        var text = reply.Lines.Count > 0 ? reply.Lines[0] : string.Empty;
        if (text.Length > 200)
        {
            text = text[..200] + "...";
        }

        return (reply.Code.ToString(CultureInfo.InvariantCulture) + " " + (reply.Status?.ToString() ?? string.Empty) + " " + text).Replace("  ", " ", StringComparison.Ordinal).Trim();
    }

    private readonly record struct Attempt(RecipientProbeResult? Result, string? Problem, bool Answered)
    {
        public static Attempt Done(RecipientProbeResult result) => new(result, null, true);

        public static Attempt Failed(string problem, bool answered) => new(null, problem, answered);
    }
}
