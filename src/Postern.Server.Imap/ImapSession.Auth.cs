using System.Text;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private const int MaxSaslLine = 16 * 1024;

    private string ClientIp => (_connection.RemoteEndPoint.Address.IsIPv4MappedToIPv6 ? _connection.RemoteEndPoint.Address.MapToIPv4() : _connection.RemoteEndPoint.Address).ToString();

    private async Task LoginAsync(LoginCommand command)
    {
        if (!AuthAllowed)
        {
            No(command.Tag, "Use STARTTLS first", ImapResponseCode.PrivacyRequired);
            return;
        }

        await SignInAsync(command.Tag, "LOGIN", string.Empty, command.UserName, command.Password).ConfigureAwait(false);
    }

    private async Task AuthenticateAsync(AuthenticateCommand command)
    {
        if (!AuthAllowed)
        {
            No(command.Tag, "Use STARTTLS first", ImapResponseCode.PrivacyRequired);
            return;
        }

        if (!command.Mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            No(command.Tag, "Unsupported authentication mechanism", ImapResponseCode.Cannot);
            return;
        }

        var response = command.InitialResponse;
        if (response is null)
        {
            _w.Continuation(string.Empty);
            await FlushAsync().ConfigureAwait(false);
            response = await ReadSaslLineAsync().ConfigureAwait(false);
            if (response is null)
            {
                Bad(command.Tag, "Authentication line too long");
                return;
            }

            if (response == "*")
            {
                Bad(command.Tag, "Authentication cancelled");
                return;
            }
        }

        byte[] decoded;
        try
        {
            decoded = Convert.FromBase64String(response);
        }
        catch (FormatException)
        {
            Bad(command.Tag, "Invalid base64 in the authentication response");
            return;
        }

        // PLAIN (RFC 4616): authzid NUL authcid NUL passwd.
        var parts = Encoding.UTF8.GetString(decoded).Split('\0');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            Bad(command.Tag, "Malformed PLAIN response");
            return;
        }

        await SignInAsync(command.Tag, "PLAIN", parts[0], parts[1], parts[2]).ConfigureAwait(false);
    }

    /// <summary>Reads one line outside a command (a SASL response); null when it was too long.</summary>
    private async Task<string?> ReadSaslLineAsync()
    {
        while (true)
        {
            var read = await ReadAsync().ConfigureAwait(false);
            if (ImapCommandReader.TryReadLine(read.Buffer, MaxSaslLine, out var line, out var consumed, out var tooLong))
            {
                var text = Utf8(line);
                _input.AdvanceTo(consumed);
                return text;
            }

            if (tooLong)
            {
                _input.AdvanceTo(consumed);
                return null;
            }

            if (read.IsCompleted)
            {
                throw new IOException("The client closed the connection.");
            }

            _input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private async Task SignInAsync(string tag, string mechanism, string authorizationId, string user, string password)
    {
        var client = _connection.RemoteEndPoint.Address;
        var guard = Policy.IsTrusted(client) ? null : _services.AuthGuard;
        if (guard is not null)
        {
            var check = await guard.CheckAsync(client, user, Closed).ConfigureAwait(false);
            if (!check.IsAllowed)
            {
                LogAuthBlocked(_logger, _connection.SessionId, user, ClientIp, check.Block.ToString());
                No(tag, "Too many failed logins, try again later", ImapResponseCode.Unavailable);
                return;
            }
        }

        var result = await _services.Authenticator.AuthenticateUserAsync(user, password, Closed).ConfigureAwait(false);
        var actingFor = authorizationId.Length > 0 && !authorizationId.Equals(user, StringComparison.OrdinalIgnoreCase);
        var account = result.Account;
        if (actingFor && result.Succeeded)
        {
            account = Policy.MasterUsers.Contains(user) ? await _services.Authenticator.FindUserAsync(authorizationId, Closed).ConfigureAwait(false) : null;
        }

        if (!result.Succeeded || account is null)
        {
            LogAuthFailed(_logger, _connection.SessionId, user, ClientIp, mechanism);
            if (guard is not null)
            {
                var failure = await guard.RecordFailureAsync(client, user, password, Closed).ConfigureAwait(false);
                if (failure.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(failure.Delay, _services.Time, Closed).ConfigureAwait(false);
                }
            }

            var code = result.Outcome == Tenants.AuthenticationOutcome.Disabled ? ImapResponseCode.ContactAdmin
                : result.Outcome == Tenants.AuthenticationOutcome.Unusable ? ImapResponseCode.ContactAdmin
                : actingFor && result.Succeeded ? ImapResponseCode.AuthorizationFailed
                : ImapResponseCode.AuthenticationFailed;
            No(tag, code == ImapResponseCode.AuthorizationFailed ? "Not allowed to log in as that user" : "Invalid credentials", code);
            if (++_authFailures >= Policy.MaxAuthFailures)
            {
                _w.Untagged(ImapStatus.Bye, "Too many failed logins");
                _state = ImapState.Logout;
            }

            return;
        }

        if (!_services.Sessions.TryEnter(account.Id, Policy.MaxConnectionsPerAccount))
        {
            No(tag, "Too many connections for this account", ImapResponseCode.Limit);
            return;
        }

        _counted = true;
        if (guard is not null)
        {
            await guard.RecordSuccessAsync(client, user, Closed).ConfigureAwait(false);
        }

        _account = account;
        _user = actingFor ? authorizationId : user;
        var domain = await _services.Directory.GetDomainAsync(account.DomainId, Closed).ConfigureAwait(false);
        _domain = domain;
        await _services.Mailboxes.EnsureDefaultFoldersAsync(account.Id, account.DomainId, Closed).ConfigureAwait(false);
        _state = ImapState.Authenticated;
        _connection.Timeout.SetIdleTimeout(Policy.IdleTimeout);
        LogLogin(_logger, _connection.SessionId, _user, ClientIp, mechanism);
        Ok(tag, "Logged in", ImapResponseCode.Capability(Capabilities()));
    }
}
