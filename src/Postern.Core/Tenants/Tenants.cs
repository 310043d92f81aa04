using Postern.Primitives;

namespace Postern.Core.Tenants;

/// <summary>What a domain is for. Persisted: values are fixed.</summary>
[Flags]
public enum DomainKind
{
    None = 0,

    /// <summary>Mailboxes live in Postern.</summary>
    Hosted = 1,

    /// <summary>Postern is the MX and filter; clean mail goes on to the customer's own mail servers.</summary>
    Relay = 2,

    /// <summary>Split delivery: known mailboxes here, every other address relayed.</summary>
    Both = Hosted | Relay,
}

/// <summary>Who may post to a distribution list. Persisted: values are fixed.</summary>
public enum ListPostingPolicy
{
    Anyone = 0,
    MembersOnly = 1,
    DomainOnly = 2,
}

/// <summary>The level a scoped object (admin login, policy, allow/block entry) is attached to. Persisted.</summary>
public enum ScopeKind
{
    Global = 0,
    Reseller = 1,
    Customer = 2,
    Domain = 3,
    Account = 4,
}

/// <summary>A level and the id of the object at that level (0 for global).</summary>
public readonly record struct Scope(ScopeKind Kind, long Id)
{
    public static Scope Global { get; } = new(ScopeKind.Global, 0);

    public override string ToString() => Kind == ScopeKind.Global ? "global" : $"{Kind.ToString().ToLowerInvariant()}:{Id}";
}

public sealed record Reseller(long Id, string Name, DateTimeOffset Created);

public sealed record Customer(long Id, string Name, long? ResellerId, DateTimeOffset Created)
{
    public bool IsDirect => ResellerId is null;
}

/// <summary>One of a relay domain's mail servers: lowest priority first, equal priorities share the load.</summary>
public sealed record RelayHost(string Host, int Port = 25, int Priority = 10)
{
    public override string ToString() => $"{Host}:{Port} (priority {Priority})";
}

public sealed record MailDomain(
    long Id,
    long CustomerId,
    DomainName Name,
    DomainKind Kind,
    IReadOnlyList<RelayHost> RelayHosts,
    string SubaddressSeparators,
    long? PlanId,
    bool HostedMailAddOn,
    long? CatchAllAccountId,
    string SettingsJson,
    DateTimeOffset Created,
    long QuotaBytes = 0)
{
    /// <summary>0 means no domain-wide storage limit.</summary>
    public bool HasQuota => QuotaBytes > 0;

    public bool IsHosted => Kind.HasFlag(DomainKind.Hosted);

    public bool IsRelay => Kind.HasFlag(DomainKind.Relay);
}

public sealed record Account(
    long Id,
    long DomainId,
    string LocalPart,
    string DisplayName,
    string PasswordHash,
    long QuotaBytes,
    bool Disabled,
    IReadOnlyList<string> ForwardTo,
    bool ForwardKeepCopy,
    string SettingsJson,
    DateTimeOffset Created)
{
    /// <summary>0 means no limit.</summary>
    public bool HasQuota => QuotaBytes > 0;
}

/// <summary>Another local part (in the account's domain or another domain of the same customer) that reaches an account.</summary>
public sealed record AccountAlias(long DomainId, string LocalPart, long AccountId);

public sealed record DistributionList(long Id, long DomainId, string LocalPart, string Name, ListPostingPolicy PostingPolicy, IReadOnlyList<string> Members);

/// <summary>What owns an address in a domain. Persisted.</summary>
public enum AddressOwnerKind
{
    Account = 1,
    Alias = 2,
    List = 3,
}

/// <summary>A row of the address table: every local part of every domain belongs to exactly one owner.</summary>
public sealed record AddressEntry(long DomainId, string LocalPart, AddressOwnerKind Kind, long OwnerId);

/// <summary>Keys of a domain's settings object (<see cref="MailDomain.SettingsJson"/>) that the server reads.</summary>
public static class DomainSettings
{
    /// <summary>Largest message in bytes for the domain's recipients (a number); absent: the server-wide limit.</summary>
    public const string MaxMessageSize = "maxMessageSize";

    /// <summary>The domain's message size limit from its settings, or null.</summary>
    public static long? ReadMaxMessageSize(string settingsJson)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(settingsJson)?[MaxMessageSize]?.GetValue<long>() is { } bytes && bytes > 0 ? bytes : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>Keys of an account's settings object (<see cref="Account.SettingsJson"/>).</summary>
public static class AccountSettings
{
    /// <summary>
    /// Addresses the account may send as besides its own and its aliases (a shared mailbox, a list, a colleague
    /// who delegated): each a full address, or <c>@domain</c> for every address of that domain.
    /// </summary>
    public const string SendAs = "sendAs";

    /// <summary>The send-as grants in an account's settings (lower-case), empty when none or unreadable.</summary>
    public static IReadOnlyList<string> ReadSendAs(string settingsJson)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(settingsJson)?[SendAs] is System.Text.Json.Nodes.JsonArray grants
                ? [.. grants.Select(g => g?.GetValue<string>()).OfType<string>().Select(g => g.ToLowerInvariant())]
                : [];
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return [];
        }
    }

    /// <summary>Whether a grant list covers <paramref name="address"/> (compared in A-label, lower-case form).</summary>
    public static bool Grants(IReadOnlyList<string> grants, string address)
    {
        ArgumentNullException.ThrowIfNull(grants);
        ArgumentNullException.ThrowIfNull(address);
        var at = address.LastIndexOf('@');
        return at > 0 && grants.Any(g => g.StartsWith('@')
            ? address[at..].Equals(g, StringComparison.OrdinalIgnoreCase)
            : address.Equals(g, StringComparison.OrdinalIgnoreCase));
    }
}
