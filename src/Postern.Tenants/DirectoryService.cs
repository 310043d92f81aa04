using System.Globalization;
using Postern.Core.Storage;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants;

/// <summary>
/// Changes to the tenant directory with every rule checked before the store is touched: the same
/// operations back the command line, the API and the admin UI. A refused change throws
/// <see cref="DirectoryValidationException"/> naming the field and leaves the store unchanged.
/// </summary>
public sealed class DirectoryService(IDirectoryStore store, IPasswordHasher hasher, DirectoryServiceOptions? options = null)
{
    private readonly DirectoryServiceOptions _options = options ?? new DirectoryServiceOptions();

    /// <summary>The largest quota accepted, in MB (1 PiB).</summary>
    public const long MaxQuotaMegabytes = 1L << 30;

    public IDirectoryStore Store { get; } = store;

    // ---- Resellers and customers ----
    public async Task<Reseller> AddResellerAsync(string name, CancellationToken cancellationToken = default)
    {
        var clean = RequireName("name", name);
        return await Guard("name", () => Store.AddResellerAsync(clean, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<Customer> AddCustomerAsync(string name, string? resellerName, CancellationToken cancellationToken = default)
    {
        var clean = RequireName("name", name);
        long? resellerId = null;
        if (!string.IsNullOrWhiteSpace(resellerName))
        {
            var reseller = await Store.FindResellerAsync(resellerName.Trim(), cancellationToken).ConfigureAwait(false)
                ?? throw new DirectoryObjectNotFoundException("reseller", $"there is no reseller named '{resellerName}'");
            resellerId = reseller.Id;
        }

        return await Guard("name", () => Store.AddCustomerAsync(clean, resellerId, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<Customer> RequireCustomerAsync(string name, CancellationToken cancellationToken = default) =>
        await Store.FindCustomerAsync(name.Trim(), cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("customer", $"there is no customer named '{name}'");

    // ---- Domains ----
    public async Task<MailDomain> AddDomainAsync(string name, string customerName, DomainKind kind, IReadOnlyList<string> relayHosts, string? planName = null, CancellationToken cancellationToken = default)
    {
        var domainName = ParseDomain("domain", name);
        if (kind == DomainKind.None)
        {
            throw new DirectoryValidationException("kind", "a domain is hosted, relay or both");
        }

        var hosts = ParseRelayHosts(relayHosts);
        if (kind.HasFlag(DomainKind.Relay) && hosts.Count == 0)
        {
            throw new DirectoryValidationException("relay-host", "a relay domain needs at least one of the customer's mail servers (host:port)");
        }

        if (!kind.HasFlag(DomainKind.Relay) && hosts.Count > 0)
        {
            throw new DirectoryValidationException("relay-host", "mail servers are only used by relay domains");
        }

        var customer = await RequireCustomerAsync(customerName, cancellationToken).ConfigureAwait(false);
        long? planId = null;
        if (planName is not null)
        {
            planId = (await RequirePlanAsync(planName, cancellationToken).ConfigureAwait(false)).Id;
        }

        return await Guard("domain", () => Store.AddDomainAsync(
            new NewDomain(customer.Id, domainName, kind, hosts, "+", planId, kind.HasFlag(DomainKind.Hosted)), cancellationToken)).ConfigureAwait(false);
    }

    public async Task<MailDomain> RequireDomainAsync(string name, CancellationToken cancellationToken = default)
    {
        var domainName = ParseDomain("domain", name);
        return await Store.FindDomainAsync(domainName.Ascii, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("domain", $"there is no domain '{domainName}'");
    }

    public async Task AddDomainAliasAsync(string domain, string alias, CancellationToken cancellationToken = default)
    {
        var target = await RequireDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        var aliasName = ParseDomain("alias", alias);
        await Guard("alias", async () =>
        {
            await Store.AddDomainAliasAsync(target.Id, aliasName, cancellationToken).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }

    public async Task<bool> RemoveDomainAliasAsync(string alias, CancellationToken cancellationToken = default) =>
        await Store.RemoveDomainAliasAsync(ParseDomain("alias", alias), cancellationToken).ConfigureAwait(false);

    public async Task<MailDomain> SetSubaddressSeparatorsAsync(string domain, string separators, CancellationToken cancellationToken = default)
    {
        var d = await RequireDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        if (separators.Any(c => char.IsLetterOrDigit(c) || char.IsWhiteSpace(c) || c is '@' or '.' or '"'))
        {
            throw new DirectoryValidationException("separators", "subaddress separators are punctuation such as '+' or '-' (not letters, digits, '.', '@' or spaces)");
        }

        var updated = d with { SubaddressSeparators = new string(separators.Distinct().ToArray()) };
        await Store.UpdateDomainAsync(updated, cancellationToken).ConfigureAwait(false);
        return updated;
    }

    /// <summary>Sets the domain-wide storage limit (0: none); every account's mail counts against it.</summary>
    public async Task<MailDomain> SetDomainQuotaAsync(string domain, long quotaMegabytes, CancellationToken cancellationToken = default)
    {
        var quota = QuotaBytes(quotaMegabytes);
        var d = await RequireDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        var updated = d with { QuotaBytes = quota };
        await Store.UpdateDomainAsync(updated, cancellationToken).ConfigureAwait(false);
        return updated;
    }

    public async Task<bool> RemoveDomainAsync(string name, CancellationToken cancellationToken = default)
    {
        var d = await RequireDomainAsync(name, cancellationToken).ConfigureAwait(false);
        return await Store.RemoveDomainAsync(d.Id, cancellationToken).ConfigureAwait(false);
    }

    // ---- Accounts ----
    public async Task<Account> AddAccountAsync(string address, string password, string? displayName, long quotaMegabytes, CancellationToken cancellationToken = default)
    {
        ValidatePassword(password, _options.MinimumPasswordLength);
        return await AddAccountWithHashAsync(address, hasher.Hash(password), displayName, quotaMegabytes, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Account> AddAccountWithHashAsync(string address, string passwordHash, string? displayName, long quotaMegabytes, CancellationToken cancellationToken = default)
    {
        var (domain, parsed) = await ResolveNewAddressAsync("email", address, cancellationToken).ConfigureAwait(false);
        if (!domain.IsHosted)
        {
            throw new DirectoryValidationException("email", $"'{domain.Name}' is a relay domain: its mailboxes live on the customer's own server");
        }

        var quota = QuotaBytes(quotaMegabytes);
        return await Guard("email", () => Store.AddAccountAsync(new NewAccount(domain.Id, parsed.LocalPart, displayName?.Trim() ?? string.Empty, passwordHash, quota), cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Finds an account by its primary address.</summary>
    public async Task<(Account Account, MailDomain Domain)> RequireAccountAsync(string address, CancellationToken cancellationToken = default)
    {
        var parsed = ParseAddress("email", address);
        var domain = await Store.FindDomainAsync(parsed.Domain.Ascii, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("email", $"there is no domain '{parsed.Domain}'");
        var entry = await Store.FindAddressAsync(domain.Id, parsed.LocalPartKey, cancellationToken).ConfigureAwait(false);
        if (entry is null || entry.Kind != AddressOwnerKind.Account)
        {
            throw new DirectoryObjectNotFoundException("email", $"there is no account '{parsed}'");
        }

        var account = await Store.GetAccountAsync(entry.OwnerId, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("email", $"there is no account '{parsed}'");
        return (account, domain);
    }

    public async Task SetPasswordAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        ValidatePassword(password, _options.MinimumPasswordLength);
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        await Store.UpdateAccountAsync(account with { PasswordHash = hasher.Hash(password) }, cancellationToken).ConfigureAwait(false);
    }

    public async Task SetDisabledAsync(string address, bool disabled, CancellationToken cancellationToken = default)
    {
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        await Store.UpdateAccountAsync(account with { Disabled = disabled }, cancellationToken).ConfigureAwait(false);
    }

    public async Task SetQuotaAsync(string address, long quotaMegabytes, CancellationToken cancellationToken = default)
    {
        var quota = QuotaBytes(quotaMegabytes);
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        await Store.UpdateAccountAsync(account with { QuotaBytes = quota }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RemoveAccountAsync(string address, CancellationToken cancellationToken = default)
    {
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        return await Store.RemoveAccountAsync(account.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets (or with no targets, clears) forwarding; <paramref name="keepCopy"/> also delivers to the mailbox.</summary>
    public async Task SetForwardAsync(string address, IReadOnlyList<string> targets, bool keepCopy, CancellationToken cancellationToken = default)
    {
        var (account, domain) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        if (targets.Count > 0 && !(await new FeatureSettings(Store).GetForAccountAsync(account.Id, cancellationToken).ConfigureAwait(false)).MayForward)
        {
            throw new DirectoryValidationException("to", $"forwarding is not available for '{address}' (its plan or settings do not allow it)");
        }

        var self = EmailAddress.Create(account.LocalPart, domain.Name);
        var clean = new List<string>();
        foreach (var target in targets)
        {
            var parsed = ParseAddress("to", target);
            if (parsed.Equals(self))
            {
                throw new DirectoryValidationException("to", "an account cannot forward to itself (use --keep-copy to keep mail in the mailbox)");
            }

            if (!clean.Contains(parsed.Key, StringComparer.Ordinal))
            {
                clean.Add(parsed.Key);
            }
        }

        await Store.UpdateAccountAsync(account with { ForwardTo = clean, ForwardKeepCopy = clean.Count > 0 && keepCopy }, cancellationToken).ConfigureAwait(false);
    }

    // ---- Aliases ----
    /// <summary>
    /// Adds an alias address for an account: a local part in the account's domain or in another domain of
    /// the same customer; <c>@domain</c> makes the account the domain's catch-all.
    /// </summary>
    public async Task AddAliasAsync(string aliasAddress, string accountAddress, CancellationToken cancellationToken = default)
    {
        var (account, accountDomain) = await RequireAccountAsync(accountAddress, cancellationToken).ConfigureAwait(false);
        var trimmed = aliasAddress.Trim();
        if (trimmed.StartsWith('@'))
        {
            var catchAllDomain = await RequireDomainAsync(trimmed[1..], cancellationToken).ConfigureAwait(false);
            RequireSameCustomer(catchAllDomain, accountDomain);
            await Store.UpdateDomainAsync(catchAllDomain with { CatchAllAccountId = account.Id }, cancellationToken).ConfigureAwait(false);
            return;
        }

        var (domain, parsed) = await ResolveNewAddressAsync("alias", trimmed, cancellationToken).ConfigureAwait(false);
        RequireSameCustomer(domain, accountDomain);
        await Guard("alias", async () =>
        {
            await Store.AddAliasAsync(new AccountAlias(domain.Id, parsed.LocalPart, account.Id), cancellationToken).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }

    public async Task<bool> RemoveAliasAsync(string aliasAddress, CancellationToken cancellationToken = default)
    {
        var trimmed = aliasAddress.Trim();
        if (trimmed.StartsWith('@'))
        {
            var domain = await RequireDomainAsync(trimmed[1..], cancellationToken).ConfigureAwait(false);
            if (domain.CatchAllAccountId is null)
            {
                return false;
            }

            await Store.UpdateDomainAsync(domain with { CatchAllAccountId = null }, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var parsed = ParseAddress("alias", trimmed);
        var d = await Store.FindDomainAsync(parsed.Domain.Ascii, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("alias", $"there is no domain '{parsed.Domain}'");
        return await Store.RemoveAliasAsync(d.Id, parsed.LocalPartKey, cancellationToken).ConfigureAwait(false);
    }

    // ---- Distribution lists ----
    public async Task<DistributionList> AddListAsync(string address, string? name, ListPostingPolicy postingPolicy, CancellationToken cancellationToken = default)
    {
        var (domain, parsed) = await ResolveNewAddressAsync("list", address, cancellationToken).ConfigureAwait(false);
        return await Guard("list", () => Store.AddListAsync(domain.Id, parsed.LocalPart, name?.Trim() ?? parsed.LocalPart, postingPolicy, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<(DistributionList List, MailDomain Domain)> RequireListAsync(string address, CancellationToken cancellationToken = default)
    {
        var parsed = ParseAddress("list", address);
        var domain = await Store.FindDomainAsync(parsed.Domain.Ascii, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("list", $"there is no domain '{parsed.Domain}'");
        var entry = await Store.FindAddressAsync(domain.Id, parsed.LocalPartKey, cancellationToken).ConfigureAwait(false);
        if (entry is null || entry.Kind != AddressOwnerKind.List)
        {
            throw new DirectoryObjectNotFoundException("list", $"there is no distribution list '{parsed}'");
        }

        var list = await Store.GetListAsync(entry.OwnerId, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("list", $"there is no distribution list '{parsed}'");
        return (list, domain);
    }

    /// <summary>Adds a member (an address here or elsewhere). A list may not contain itself, directly or through other lists.</summary>
    public async Task<bool> AddListMemberAsync(string listAddress, string memberAddress, RecipientResolver resolver, CancellationToken cancellationToken = default)
    {
        var (list, domain) = await RequireListAsync(listAddress, cancellationToken).ConfigureAwait(false);
        var member = ParseAddress("member", memberAddress);
        var self = EmailAddress.Create(list.LocalPart, domain.Name);
        var resolvedMember = await resolver.ResolveAsync(member, cancellationToken).ConfigureAwait(false);
        if (resolvedMember.Kind == RecipientKind.List && resolvedMember.ListId == list.Id)
        {
            throw new DirectoryValidationException("member", $"the list '{self}' cannot contain itself");
        }

        if (resolvedMember.Kind == RecipientKind.List
            && await resolver.ListReachesAsync(resolvedMember.ListId!.Value, list.Id, cancellationToken).ConfigureAwait(false))
        {
            throw new DirectoryValidationException("member", $"adding '{member}' would make '{self}' contain itself through another list");
        }

        return await Store.AddListMemberAsync(list.Id, member.Key, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RemoveListMemberAsync(string listAddress, string memberAddress, CancellationToken cancellationToken = default)
    {
        var (list, _) = await RequireListAsync(listAddress, cancellationToken).ConfigureAwait(false);
        var member = ParseAddress("member", memberAddress);
        return await Store.RemoveListMemberAsync(list.Id, member.Key, cancellationToken).ConfigureAwait(false);
    }

    // ---- Admins and roles ----
    public async Task<AdminLogin> AddAdminAsync(string login, string password, IReadOnlyList<string> roles, Scope scope, bool mustChangePassword = false, CancellationToken cancellationToken = default)
    {
        var cleanLogin = RequireName("login", login);
        if (cleanLogin.Any(char.IsWhiteSpace))
        {
            throw new DirectoryValidationException("login", "a login has no spaces");
        }

        ValidatePassword(password, _options.MinimumPasswordLength);
        if (roles.Count == 0)
        {
            throw new DirectoryValidationException("role", "an admin needs at least one role");
        }

        foreach (var role in roles)
        {
            if (await Store.FindRoleAsync(role, cancellationToken).ConfigureAwait(false) is null)
            {
                var known = string.Join(", ", (await Store.ListRolesAsync(cancellationToken).ConfigureAwait(false)).Select(r => r.Name));
                throw new DirectoryValidationException("role", $"there is no role '{role}' (roles: {known})");
            }
        }

        await RequireScopeExistsAsync(scope, cancellationToken).ConfigureAwait(false);
        return await Guard("login", () => Store.AddAdminAsync(cleanLogin, hasher.Hash(password), scope, roles, mustChangePassword, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<Role> AddRoleAsync(string name, IReadOnlyList<string> permissions, CancellationToken cancellationToken = default)
    {
        var clean = RequireName("name", name);
        var set = new HashSet<Permission>();
        foreach (var p in permissions)
        {
            if (!Enum.TryParse<Permission>(p.Replace("-", string.Empty, StringComparison.Ordinal), ignoreCase: true, out var permission) || !Enum.IsDefined(permission))
            {
                throw new DirectoryValidationException("permission", $"unknown permission '{p}' (permissions: {string.Join(", ", Enum.GetNames<Permission>())})");
            }

            set.Add(permission);
        }

        return await Guard("name", () => Store.AddRoleAsync(clean, set, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Parses a scope as the command line writes it: <c>global</c>, <c>reseller:NAME</c>, <c>customer:NAME</c>, <c>domain:NAME</c>.</summary>
    public async Task<Scope> ParseScopeAsync(string text, CancellationToken cancellationToken = default)
    {
        var trimmed = text.Trim();
        if (trimmed.Equals("global", StringComparison.OrdinalIgnoreCase))
        {
            return Scope.Global;
        }

        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0)
        {
            var kind = trimmed[..colon].ToLowerInvariant();
            var name = trimmed[(colon + 1)..];
            switch (kind)
            {
                case "reseller":
                    var reseller = await Store.FindResellerAsync(name, cancellationToken).ConfigureAwait(false)
                        ?? throw new DirectoryObjectNotFoundException("scope", $"there is no reseller named '{name}'");
                    return new Scope(ScopeKind.Reseller, reseller.Id);
                case "customer":
                    var customer = await Store.FindCustomerAsync(name.Trim(), cancellationToken).ConfigureAwait(false)
                        ?? throw new DirectoryObjectNotFoundException("scope", $"there is no customer named '{name}'");
                    return new Scope(ScopeKind.Customer, customer.Id);
                case "domain":
                    var domainName = ParseDomain("scope", name);
                    var domain = await Store.FindDomainAsync(domainName.Ascii, cancellationToken).ConfigureAwait(false)
                        ?? throw new DirectoryObjectNotFoundException("scope", $"there is no domain '{domainName}'");
                    return new Scope(ScopeKind.Domain, domain.Id);
            }
        }

        throw new DirectoryValidationException("scope", $"'{text}' is not a scope (global, reseller:NAME, customer:NAME or domain:NAME)");
    }

    // ---- Plans, settings and policies ----
    public async Task<Plan> RequirePlanAsync(string name, CancellationToken cancellationToken = default) =>
        await Store.FindPlanAsync(name.Trim(), cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("plan", $"there is no plan named '{name}'");

    /// <summary>
    /// Assigns a plan to a domain. Only the reseller of the domain's customer (or a global admin) may change it:
    /// a customer that belongs to a reseller cannot change its own plan.
    /// </summary>
    public async Task SetPlanAsync(string domain, string planName, bool hostedMailAddOn, AdminPrincipal actor, CancellationToken cancellationToken = default)
    {
        var d = await RequireDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        var access = new DirectoryAccess(Store);
        if (!await access.MayChangePlanAsync(actor, d, cancellationToken).ConfigureAwait(false))
        {
            throw new DirectoryValidationException("plan", "only the customer's reseller or a global admin can change this domain's plan");
        }

        var plan = await RequirePlanAsync(planName, cancellationToken).ConfigureAwait(false);
        if (plan.IsAddOn)
        {
            throw new DirectoryValidationException("plan", $"'{plan.Name}' is an add-on, not a plan");
        }

        await Store.UpdateDomainAsync(d with { PlanId = plan.Id, HostedMailAddOn = hostedMailAddOn }, cancellationToken).ConfigureAwait(false);
    }

    public async Task SetDomainSettingsAsync(string domain, string settingsJson, CancellationToken cancellationToken = default)
    {
        var d = await RequireDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        await Store.UpdateDomainAsync(d with { SettingsJson = FeatureSettings.NormalizeObject("settings", settingsJson) }, cancellationToken).ConfigureAwait(false);
    }

    public async Task SetAccountSettingsAsync(string address, string settingsJson, CancellationToken cancellationToken = default)
    {
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        await Store.UpdateAccountAsync(account with { SettingsJson = FeatureSettings.NormalizeObject("settings", settingsJson) }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Lets the account send as <paramref name="grant"/> (an address, or <c>@domain</c> for all of a domain) on
    /// submission, or takes that right back; returns the grants now in force.
    /// </summary>
    public async Task<IReadOnlyList<string>> SetSendAsAsync(string address, string grant, bool allow, CancellationToken cancellationToken = default)
    {
        var (account, _) = await RequireAccountAsync(address, cancellationToken).ConfigureAwait(false);
        string normalized;
        if (grant.StartsWith('@'))
        {
            normalized = "@" + ParseDomain("send-as", grant[1..]).Ascii;
        }
        else if (EmailAddress.TryParse(grant, out var parsed, out var error))
        {
            normalized = parsed!.ToAsciiDomainString().ToLowerInvariant();
        }
        else
        {
            throw new DirectoryValidationException("send-as", $"'{grant}' is neither an address nor @domain: {error}");
        }

        var grants = AccountSettings.ReadSendAs(account.SettingsJson).ToList();
        if (!allow)
        {
            grants.Remove(normalized);
        }
        else if (!grants.Contains(normalized))
        {
            grants.Add(normalized);
        }

        var settings = System.Text.Json.Nodes.JsonNode.Parse(account.SettingsJson) as System.Text.Json.Nodes.JsonObject ?? [];
        settings[AccountSettings.SendAs] = grants.Count == 0 ? null : new System.Text.Json.Nodes.JsonArray([.. grants.Select(g => (System.Text.Json.Nodes.JsonNode)g)]);
        if (grants.Count == 0)
        {
            settings.Remove(AccountSettings.SendAs);
        }

        await Store.UpdateAccountAsync(account with { SettingsJson = settings.ToJsonString() }, cancellationToken).ConfigureAwait(false);
        return grants;
    }

    public async Task SetPolicyAsync(Scope scope, string name, FilterPolicy? policy, CancellationToken cancellationToken = default)
    {
        if (policy is not null)
        {
            ValidatePolicy(policy);
        }

        await RequireScopeExistsAsync(scope, cancellationToken).ConfigureAwait(false);
        await Store.SetPolicyAsync(scope, RequireName("name", name), policy, cancellationToken).ConfigureAwait(false);
    }

    // ---- Validation helpers ----
    public static EmailAddress ParseAddress(string field, string? text) =>
        EmailAddress.TryParse(text, out var address, out var error) ? address! : throw new DirectoryValidationException(field, error!);

    public static DomainName ParseDomain(string field, string? text) =>
        DomainName.TryParse(text, out var domain, out var error) ? domain! : throw new DirectoryValidationException(field, error!);

    public static long QuotaBytes(long quotaMegabytes) => quotaMegabytes switch
    {
        < 0 => throw new DirectoryValidationException("quota", "the quota cannot be below zero (0 means no limit)"),
        > MaxQuotaMegabytes => throw new DirectoryValidationException("quota", $"the quota cannot exceed {MaxQuotaMegabytes.ToString(CultureInfo.InvariantCulture)} MB"),
        _ => quotaMegabytes * 1024 * 1024,
    };

    public static void ValidatePassword(string? password, int minimumLength = 1)
    {
        if (string.IsNullOrEmpty(password))
        {
            throw new DirectoryValidationException("password", "the password is empty");
        }

        if (password.Length < minimumLength)
        {
            throw new DirectoryValidationException("password", $"the password must have at least {minimumLength.ToString(CultureInfo.InvariantCulture)} characters");
        }

        if (password.Length > 1024)
        {
            throw new DirectoryValidationException("password", "the password is longer than 1024 characters");
        }

        if (password.Any(char.IsControl))
        {
            throw new DirectoryValidationException("password", "the password contains control characters");
        }
    }

    public static IReadOnlyList<RelayHost> ParseRelayHosts(IReadOnlyList<string> hosts)
    {
        var result = new List<RelayHost>();
        foreach (var text in hosts)
        {
            // host[:port][/priority] or [ipv6]:port
            var spec = text.Trim();
            var priority = 10;
            var slash = spec.LastIndexOf('/');
            if (slash > 0)
            {
                if (!int.TryParse(spec[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out priority) || priority > 65535)
                {
                    throw new DirectoryValidationException("relay-host", $"'{text}': the priority after '/' must be a number from 0 to 65535");
                }

                spec = spec[..slash];
            }

            var port = 25;
            string host;
            if (spec.StartsWith('['))
            {
                var close = spec.IndexOf(']', StringComparison.Ordinal);
                if (close < 0 || !System.Net.IPAddress.TryParse(spec[1..close], out _))
                {
                    throw new DirectoryValidationException("relay-host", $"'{text}' is not a valid [IPv6]:port");
                }

                host = spec[1..close];
                if (close + 1 < spec.Length)
                {
                    port = ParsePort(text, spec[(close + 1)..]);
                }
            }
            else
            {
                var colon = spec.LastIndexOf(':');
                host = colon >= 0 ? spec[..colon] : spec;
                if (colon >= 0)
                {
                    port = ParsePort(text, spec[colon..]);
                }

                if (!System.Net.IPAddress.TryParse(host, out _))
                {
                    host = ParseDomain("relay-host", host).Ascii;
                }
            }

            result.Add(new RelayHost(host, port, priority));
        }

        return result;
    }

    private static int ParsePort(string text, string colonAndPort)
    {
        if (colonAndPort.Length < 2 || colonAndPort[0] != ':'
            || !int.TryParse(colonAndPort[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new DirectoryValidationException("relay-host", $"'{text}': the port must be a number from 1 to 65535");
        }

        return port;
    }

    private static void ValidatePolicy(FilterPolicy policy)
    {
        if (policy.QuarantineRetentionDays is < 0 or > 3650)
        {
            throw new DirectoryValidationException("quarantine-retention-days", "retention is from 0 (keep nothing) to 3650 days");
        }

        var levels = new[] { ("tag-level", policy.TagLevel), ("spammy-level", policy.SpammyLevel), ("quarantine-level", policy.QuarantineLevel), ("reject-level", policy.RejectLevel) };
        foreach (var (field, value) in levels)
        {
            if (value is { } v && (double.IsNaN(v) || double.IsInfinity(v) || Math.Abs(v) > 1000))
            {
                throw new DirectoryValidationException(field, "a score level is a number between -1000 and 1000");
            }
        }

        // Levels rise in this order: tag <= spammy <= quarantine <= reject (among those this policy sets).
        var set = levels.Where(l => l.Item2 is not null).ToList();
        for (var i = 1; i < set.Count; i++)
        {
            if (set[i].Item2 < set[i - 1].Item2)
            {
                throw new DirectoryValidationException(set[i].Item1, $"the {set[i].Item1} cannot be below the {set[i - 1].Item1}");
            }
        }
    }

    private static string RequireName(string field, string? name)
    {
        var clean = name?.Trim();
        if (string.IsNullOrEmpty(clean))
        {
            throw new DirectoryValidationException(field, $"the {field} is empty");
        }

        if (clean.Length > 200 || clean.Any(char.IsControl))
        {
            throw new DirectoryValidationException(field, $"the {field} must be at most 200 printable characters");
        }

        return clean;
    }

    private static void RequireSameCustomer(MailDomain domain, MailDomain accountDomain)
    {
        if (domain.CustomerId != accountDomain.CustomerId)
        {
            throw new DirectoryValidationException("alias", $"'{domain.Name}' belongs to another customer than '{accountDomain.Name}'");
        }
    }

    private async Task<(MailDomain Domain, EmailAddress Address)> ResolveNewAddressAsync(string field, string address, CancellationToken cancellationToken)
    {
        var parsed = ParseAddress(field, address);
        var domain = await Store.FindDomainAsync(parsed.Domain.Ascii, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException(field, $"there is no domain '{parsed.Domain}' (add it first)");
        if (!string.Equals(domain.Name.Ascii, parsed.Domain.Ascii, StringComparison.Ordinal))
        {
            throw new DirectoryValidationException(field, $"'{parsed.Domain}' is a domain alias of '{domain.Name}': add the address in '{domain.Name}'");
        }

        return (domain, parsed);
    }

    private async Task RequireScopeExistsAsync(Scope scope, CancellationToken cancellationToken)
    {
        var exists = scope.Kind switch
        {
            ScopeKind.Global => true,
            ScopeKind.Reseller => await Store.GetResellerAsync(scope.Id, cancellationToken).ConfigureAwait(false) is not null,
            ScopeKind.Customer => await Store.GetCustomerAsync(scope.Id, cancellationToken).ConfigureAwait(false) is not null,
            ScopeKind.Domain => await Store.GetDomainAsync(scope.Id, cancellationToken).ConfigureAwait(false) is not null,
            ScopeKind.Account => await Store.GetAccountAsync(scope.Id, cancellationToken).ConfigureAwait(false) is not null,
            _ => false,
        };
        if (!exists)
        {
            throw new DirectoryObjectNotFoundException("scope", $"the scope {scope} does not exist");
        }
    }

    private static async Task<T> Guard<T>(string field, Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (StoreConflictException e)
        {
            throw new DirectoryValidationException(field, e.Message);
        }
    }
}

public sealed record DirectoryServiceOptions
{
    /// <summary>New passwords (set by an admin, the command line or an import) need at least this many characters.</summary>
    public int MinimumPasswordLength { get; init; } = 8;
}
