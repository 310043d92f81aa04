using System.Collections.Concurrent;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants;

/// <summary>What an address is, as far as this server is concerned.</summary>
public enum RecipientKind
{
    /// <summary>Not a domain of ours (relaying would be needed), or ours with no such address.</summary>
    Unknown = 0,
    Account = 1,
    Alias = 2,
    List = 3,
    CatchAll = 4,

    /// <summary>A relay (gateway) domain's address: accepted and queued for the customer's own server.</summary>
    RelayRecipient = 5,

    /// <summary><c>postmaster@</c> a hosted domain with no explicit postmaster address, or the bare <c>&lt;postmaster&gt;</c>.</summary>
    Postmaster = 6,
}

/// <summary>The answer to "what is this address?".</summary>
public sealed record ResolvedRecipient(
    RecipientKind Kind,
    EmailAddress Address,
    MailDomain? Domain,
    long? AccountId = null,
    long? ListId = null,
    string? Detail = null)
{
    /// <summary>True when the domain is one of ours (hosted or relay), whatever the local part.</summary>
    public bool IsLocalDomain => Domain is not null;
}

/// <summary>One mailbox a message must reach.</summary>
public sealed record MailboxTarget(long AccountId, EmailAddress Address, string? Detail);

/// <summary>Where a message for one recipient goes once aliases, lists and forwards are expanded.</summary>
public sealed record RecipientExpansion(
    IReadOnlyList<MailboxTarget> Mailboxes,
    IReadOnlyList<EmailAddress> Remote,
    IReadOnlyList<EmailAddress> Relay,
    IReadOnlyList<string> Problems);

public sealed record RecipientResolverOptions
{
    /// <summary>How often the store's change stamp is checked (a change by the CLI is honoured within this, plus one lookup).</summary>
    public TimeSpan ChangePollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Cache entries kept before the cache is emptied and refilled.</summary>
    public int MaxCacheEntries { get; init; } = 200_000;

    /// <summary>Alias, list and forward expansion stops at this depth.</summary>
    public int MaxExpansionDepth { get; init; } = 8;

    /// <summary>Expansion stops after this many final recipients (a list bomb guard).</summary>
    public int MaxExpandedRecipients { get; init; } = 10_000;

    /// <summary>Where the bare <c>&lt;postmaster&gt;</c> and implicit <c>postmaster@</c> go; null leaves it to delivery.</summary>
    public EmailAddress? Postmaster { get; init; }
}

/// <summary>
/// Resolves recipient addresses through domain aliases, case-insensitively, in a fixed order:
/// exact address (account, alias or list) → subaddress stripped (<c>user+tag@</c>, separators per domain)
/// → implicit postmaster → catch-all → relay domain → unknown. Answers come from a cache that is
/// emptied whenever the store's change stamp moves (negative answers included).
/// </summary>
public sealed class RecipientResolver
{
    private readonly IDirectoryStore _store;
    private readonly RecipientResolverOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, MailDomain?> _domains = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long, string), AddressEntry?> _addresses = new();
    private readonly ConcurrentDictionary<long, Account?> _accounts = new();
    private readonly ConcurrentDictionary<long, DistributionList?> _lists = new();
    private readonly SemaphoreSlim _checkGate = new(1, 1);
    private long _stamp = long.MinValue;
    private long _lastCheck = long.MinValue;

    public RecipientResolver(IDirectoryStore store, RecipientResolverOptions? options = null, TimeProvider? time = null)
    {
        _store = store;
        _options = options ?? new RecipientResolverOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Counts answers served from the cache and from the store (for metrics and tests).</summary>
    public long CacheHits => Interlocked.Read(ref _hits);

    public long StoreLookups => Interlocked.Read(ref _misses);

    private long _hits;
    private long _misses;

    /// <summary>Empties the cache now (after a change made in this process).</summary>
    public void Invalidate()
    {
        _domains.Clear();
        _addresses.Clear();
        _accounts.Clear();
        _lists.Clear();
    }

    /// <summary>The bare <c>&lt;postmaster&gt;</c> of RFC 5321 §4.5.1: always accepted.</summary>
    public ResolvedRecipient ResolveBarePostmaster() =>
        new(RecipientKind.Postmaster, _options.Postmaster ?? EmailAddress.Parse("postmaster@localhost.localdomain"), null);

    public async Task<ResolvedRecipient> ResolveAsync(EmailAddress address, CancellationToken cancellationToken = default)
    {
        await RefreshIfChangedAsync(cancellationToken).ConfigureAwait(false);
        var domain = await GetDomainAsync(address.Domain.Ascii, cancellationToken).ConfigureAwait(false);
        if (domain is null)
        {
            return new ResolvedRecipient(RecipientKind.Unknown, address, null);
        }

        var entry = await GetAddressAsync(domain.Id, address.LocalPartKey, cancellationToken).ConfigureAwait(false);
        if (entry is not null)
        {
            return FromEntry(entry, address, domain, null);
        }

        foreach (var separator in domain.SubaddressSeparators)
        {
            var at = address.LocalPartKey.IndexOf(separator, StringComparison.Ordinal);
            if (at <= 0)
            {
                continue;
            }

            entry = await GetAddressAsync(domain.Id, address.LocalPartKey[..at], cancellationToken).ConfigureAwait(false);
            if (entry is not null)
            {
                return FromEntry(entry, address, domain, address.LocalPart[(at + 1)..]);
            }
        }

        if (address.LocalPartKey == "postmaster")
        {
            return domain.IsHosted
                ? new ResolvedRecipient(RecipientKind.Postmaster, address, domain)
                : new ResolvedRecipient(RecipientKind.RelayRecipient, address, domain);
        }

        if (domain.CatchAllAccountId is { } catchAll)
        {
            return new ResolvedRecipient(RecipientKind.CatchAll, address, domain, AccountId: catchAll);
        }

        return domain.IsRelay
            ? new ResolvedRecipient(RecipientKind.RelayRecipient, address, domain)
            : new ResolvedRecipient(RecipientKind.Unknown, address, domain);
    }

    /// <summary>The account behind a resolved recipient, through the cache.</summary>
    public async Task<Account?> GetAccountAsync(long accountId, CancellationToken cancellationToken = default)
    {
        await RefreshIfChangedAsync(cancellationToken).ConfigureAwait(false);
        if (_accounts.TryGetValue(accountId, out var cached))
        {
            Interlocked.Increment(ref _hits);
            return cached;
        }

        Interlocked.Increment(ref _misses);
        var account = await _store.GetAccountAsync(accountId, cancellationToken).ConfigureAwait(false);
        Remember(_accounts, accountId, account);
        return account;
    }

    /// <summary>
    /// Expands a recipient to the mailboxes, remote addresses and relay recipients it reaches. Each
    /// mailbox appears once however many paths lead to it; cycles and the depth limit are reported in
    /// <see cref="RecipientExpansion.Problems"/> and cut there.
    /// </summary>
    public async Task<RecipientExpansion> ExpandAsync(EmailAddress recipient, CancellationToken cancellationToken = default)
    {
        var mailboxes = new Dictionary<long, MailboxTarget>();
        var remote = new Dictionary<string, EmailAddress>(StringComparer.Ordinal);
        var relay = new Dictionary<string, EmailAddress>(StringComparer.Ordinal);
        var problems = new List<string>();
        var onPath = new HashSet<string>(StringComparer.Ordinal);
        await ExpandInto(recipient, 0).ConfigureAwait(false);
        return new RecipientExpansion(mailboxes.Values.ToList(), remote.Values.ToList(), relay.Values.ToList(), problems);

        async Task ExpandInto(EmailAddress address, int depth)
        {
            if (mailboxes.Count + remote.Count + relay.Count >= _options.MaxExpandedRecipients)
            {
                problems.Add($"expansion stopped at {_options.MaxExpandedRecipients} recipients");
                return;
            }

            if (depth > _options.MaxExpansionDepth)
            {
                problems.Add($"'{address}' is nested deeper than {_options.MaxExpansionDepth} levels");
                return;
            }

            if (!onPath.Add(address.Key))
            {
                problems.Add($"'{address}' leads back to itself");
                return;
            }

            try
            {
                var resolved = await ResolveAsync(address, cancellationToken).ConfigureAwait(false);
                switch (resolved.Kind)
                {
                    case RecipientKind.Unknown when resolved.Domain is null:
                        remote.TryAdd(address.Key, address);
                        break;
                    case RecipientKind.Unknown:
                        problems.Add($"'{address}' does not exist");
                        break;
                    case RecipientKind.RelayRecipient:
                        relay.TryAdd(address.Key, address);
                        break;
                    case RecipientKind.Postmaster:
                        if (_options.Postmaster is { } pm && !pm.Equals(address))
                        {
                            await ExpandInto(pm, depth + 1).ConfigureAwait(false);
                        }
                        else
                        {
                            problems.Add($"'{address}': no postmaster address is configured");
                        }

                        break;
                    case RecipientKind.List:
                        var list = await GetListAsync(resolved.ListId!.Value, cancellationToken).ConfigureAwait(false);
                        foreach (var member in list?.Members ?? [])
                        {
                            if (EmailAddress.TryParse(member, out var memberAddress, out _))
                            {
                                await ExpandInto(memberAddress!, depth + 1).ConfigureAwait(false);
                            }
                        }

                        break;
                    default:
                        var account = await GetAccountAsync(resolved.AccountId!.Value, cancellationToken).ConfigureAwait(false);
                        if (account is null)
                        {
                            problems.Add($"'{address}' points at an account that no longer exists");
                            break;
                        }

                        if (account.Disabled)
                        {
                            problems.Add($"'{address}' belongs to a disabled account");
                            break;
                        }

                        var mailboxAddress = EmailAddress.Create(account.LocalPart, (await GetDomainByIdAsync(account.DomainId, resolved.Domain!, cancellationToken).ConfigureAwait(false)).Name);
                        if (account.ForwardTo.Count == 0 || account.ForwardKeepCopy)
                        {
                            mailboxes.TryAdd(account.Id, new MailboxTarget(account.Id, mailboxAddress, resolved.Detail));
                        }

                        if (account.ForwardTo.Count > 0)
                        {
                            // The account's own address is on the path, so a forward back to it is a loop.
                            var added = onPath.Add(mailboxAddress.Key);
                            foreach (var target in account.ForwardTo)
                            {
                                if (EmailAddress.TryParse(target, out var forward, out _))
                                {
                                    await ExpandInto(forward!, depth + 1).ConfigureAwait(false);
                                }
                            }

                            if (added)
                            {
                                onPath.Remove(mailboxAddress.Key);
                            }
                        }

                        break;
                }
            }
            finally
            {
                onPath.Remove(address.Key);
            }
        }
    }

    /// <summary>True when list <paramref name="fromListId"/> reaches list <paramref name="targetListId"/> through its members.</summary>
    public async Task<bool> ListReachesAsync(long fromListId, long targetListId, CancellationToken cancellationToken = default)
    {
        var seen = new HashSet<long>();
        var pending = new Stack<long>();
        pending.Push(fromListId);
        while (pending.Count > 0 && seen.Count < 10_000)
        {
            var id = pending.Pop();
            if (id == targetListId)
            {
                return true;
            }

            if (!seen.Add(id))
            {
                continue;
            }

            var list = await GetListAsync(id, cancellationToken).ConfigureAwait(false);
            foreach (var member in list?.Members ?? [])
            {
                if (EmailAddress.TryParse(member, out var memberAddress, out _))
                {
                    var resolved = await ResolveAsync(memberAddress!, cancellationToken).ConfigureAwait(false);
                    if (resolved.Kind == RecipientKind.List)
                    {
                        pending.Push(resolved.ListId!.Value);
                    }
                }
            }
        }

        return false;
    }

    private async Task<MailDomain> GetDomainByIdAsync(long domainId, MailDomain hint, CancellationToken cancellationToken)
    {
        if (hint.Id == domainId)
        {
            return hint;
        }

        return await _store.GetDomainAsync(domainId, cancellationToken).ConfigureAwait(false) ?? hint;
    }

    private static ResolvedRecipient FromEntry(AddressEntry entry, EmailAddress address, MailDomain domain, string? detail) => entry.Kind switch
    {
        AddressOwnerKind.Account => new ResolvedRecipient(RecipientKind.Account, address, domain, AccountId: entry.OwnerId, Detail: detail),
        AddressOwnerKind.Alias => new ResolvedRecipient(RecipientKind.Alias, address, domain, AccountId: entry.OwnerId, Detail: detail),
        _ => new ResolvedRecipient(RecipientKind.List, address, domain, ListId: entry.OwnerId, Detail: detail),
    };

    private async Task<MailDomain?> GetDomainAsync(string ascii, CancellationToken cancellationToken)
    {
        if (_domains.TryGetValue(ascii, out var cached))
        {
            Interlocked.Increment(ref _hits);
            return cached;
        }

        Interlocked.Increment(ref _misses);
        var domain = await _store.FindDomainAsync(ascii, cancellationToken).ConfigureAwait(false);
        Remember(_domains, ascii, domain);
        return domain;
    }

    private async Task<AddressEntry?> GetAddressAsync(long domainId, string key, CancellationToken cancellationToken)
    {
        if (_addresses.TryGetValue((domainId, key), out var cached))
        {
            Interlocked.Increment(ref _hits);
            return cached;
        }

        Interlocked.Increment(ref _misses);
        var entry = await _store.FindAddressAsync(domainId, key, cancellationToken).ConfigureAwait(false);
        Remember(_addresses, (domainId, key), entry);
        return entry;
    }

    private async Task<DistributionList?> GetListAsync(long id, CancellationToken cancellationToken)
    {
        if (_lists.TryGetValue(id, out var cached))
        {
            return cached;
        }

        var list = await _store.GetListAsync(id, cancellationToken).ConfigureAwait(false);
        Remember(_lists, id, list);
        return list;
    }

    private void Remember<TKey, TValue>(ConcurrentDictionary<TKey, TValue> cache, TKey key, TValue value)
        where TKey : notnull
    {
        if (cache.Count >= _options.MaxCacheEntries)
        {
            cache.Clear();
        }

        cache[key] = value;
    }

    private async Task RefreshIfChangedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastCheck);
        if (last != long.MinValue && _time.GetElapsedTime(last, now) < _options.ChangePollInterval)
        {
            return;
        }

        if (!await _checkGate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            return; // another caller is checking; serve from the cache meanwhile
        }

        try
        {
            var stamp = await _store.GetChangeStampAsync(cancellationToken).ConfigureAwait(false);
            if (stamp != Interlocked.Read(ref _stamp))
            {
                Invalidate();
                Interlocked.Exchange(ref _stamp, stamp);
            }

            Interlocked.Exchange(ref _lastCheck, _time.GetTimestamp());
        }
        finally
        {
            _checkGate.Release();
        }
    }
}
