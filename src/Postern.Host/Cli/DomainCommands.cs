using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern domain add|list|show|set|remove</c> and <c>postern domain alias add|remove</c>.</summary>
internal static class DomainCommands
{
    private static readonly string[] Kinds = ["hosted", "relay", "both"];
    private static readonly string[] VerificationModes = ["accept-all", "listed", "probe"];

    public static Command Create(GlobalOptions globals) => Group("domain", "Mail domains: add, list, show, set, remove; domain aliases", globals,
        Add(globals), List(globals), Show(globals), Set(globals), Remove(globals),
        Group("alias", "Domain aliases: other names of a domain", globals, AliasAdd(globals), AliasRemove(globals)));

    public static string KindName(DomainKind kind) => kind switch
    {
        DomainKind.Hosted => "hosted",
        DomainKind.Relay => "relay",
        DomainKind.Both => "both",
        _ => "none",
    };

    /// <summary>The name as people read it, with the A-label in brackets for an IDN.</summary>
    public static string Display(DomainName name) => name.IsInternational ? $"{name.Unicode} ({name.Ascii})" : name.Ascii;

    private static Command Add(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The domain (an IDN may be given in either form)" };
        var customer = new Option<string>("--customer") { Description = "The customer who owns the domain", Required = true };
        var kind = Choice("--kind", "hosted: mailboxes here; relay: filter and pass on to the customer's servers; both: split delivery (default: hosted, or relay with --relay-host)", Kinds);
        var relayHosts = new Option<string[]>("--relay-host")
        {
            Description = "One of the customer's mail servers: HOST[:PORT][/PRIORITY] (repeatable; lowest priority first)",
            AllowMultipleArgumentsPerToken = false,
        };
        var plan = new Option<string?>("--plan") { Description = "The plan sold for the domain (see 'postern plan list')" };
        var command = Leaf("add", "Add a domain for a customer", globals, async (parse, context, ct) =>
        {
            var hosts = parse.GetValue(relayHosts) ?? [];
            var domainKind = CheckChoice(parse, kind, Kinds) switch
            {
                "relay" => DomainKind.Relay,
                "both" => DomainKind.Both,
                "hosted" => DomainKind.Hosted,
                _ => hosts.Length > 0 ? DomainKind.Relay : DomainKind.Hosted,
            };
            var added = await context.Directory.AddDomainAsync(parse.GetValue(name)!, parse.GetValue(customer)!, domainKind, hosts, parse.GetValue(plan), ct).ConfigureAwait(false);
            var model = await DescribeAsync(context, added, ct).ConfigureAwait(false);
            context.Write(model, o => o.WriteLine($"added domain {Display(added.Name)} ({KindName(added.Kind)}) for customer {model.Customer}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(name);
        command.Options.Add(customer);
        command.Options.Add(kind);
        command.Options.Add(relayHosts);
        command.Options.Add(plan);
        return command;
    }

    private static Command List(GlobalOptions globals)
    {
        var customer = new Option<string?>("--customer") { Description = "Only this customer's domains" };
        var command = Leaf("list", "List domains", globals, async (parse, context, ct) =>
        {
            long? customerId = parse.GetValue(customer) is { } c ? (await context.Directory.RequireCustomerAsync(c, ct).ConfigureAwait(false)).Id : null;
            var domains = await context.Store.ListDomainsAsync(customerId, ct).ConfigureAwait(false);
            var models = new List<DomainModel>();
            foreach (var d in domains)
            {
                models.Add(await DescribeAsync(context, d, ct).ConfigureAwait(false));
            }

            context.Write(models, o =>
            {
                if (models.Count == 0)
                {
                    o.WriteLine("no domains");
                }

                foreach (var m in models)
                {
                    var aliases = m.Aliases.Count > 0 ? $" (aliases: {string.Join(", ", m.Aliases)})" : string.Empty;
                    o.WriteLine($"{m.Name}{aliases}  {m.Kind}  customer {m.Customer}  {Plural(m.Accounts, "account")}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Options.Add(customer);
        return command;
    }

    private static Command Show(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The domain (or one of its aliases)" };
        var command = Leaf("show", "Show a domain: kind, customer, mail servers, aliases, plan, subaddress separators, catch-all, counts", globals, async (parse, context, ct) =>
        {
            var domain = await context.Directory.RequireDomainAsync(parse.GetValue(name)!, ct).ConfigureAwait(false);
            var m = await DescribeAsync(context, domain, ct).ConfigureAwait(false);
            context.Write(m, o =>
            {
                o.WriteLine($"domain:      {Display(domain.Name)}");
                o.WriteLine($"kind:        {m.Kind}");
                o.WriteLine($"customer:    {m.Customer}");
                o.WriteLine($"mail servers: {(m.RelayHosts.Count == 0 ? "-" : string.Join(", ", domain.RelayHosts.Select(h => h.ToString())))}");
                o.WriteLine($"aliases:     {(m.Aliases.Count == 0 ? "-" : string.Join(", ", m.Aliases))}");
                o.WriteLine($"plan:        {m.Plan ?? "(none: every feature)"}{(m.HostedMailAddOn ? " + Hosted Mail" : string.Empty)}");
                o.WriteLine($"separators:  {m.SubaddressSeparators}");
                o.WriteLine($"catch-all:   {m.CatchAll ?? "-"}");
                o.WriteLine($"accounts:    {m.Accounts}");
                o.WriteLine($"lists:       {m.Lists}");
                var d = m.Delivery;
                o.WriteLine($"tls policy:  {d.TlsPolicy ?? "may (default)"}{(d.TlsMatchNames.Count > 0 ? $" (certificate names: {string.Join(", ", d.TlsMatchNames)})" : string.Empty)}");
                o.WriteLine($"delivery:    {(d.Hold ? "on hold (mail is queued, not delivered, until 'postern domain set " + domain.Name.Ascii + " --release')" : "normal")}");
                o.WriteLine($"queue lifetime: {(d.QueueLifetimeDays is { } days ? $"{days.ToString(CultureInfo.InvariantCulture)} days" : "server default")}");
                if (domain.Kind.HasFlag(DomainKind.Relay))
                {
                    o.WriteLine($"recipients:  {d.RecipientVerification}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(name);
        return command;
    }

    private static Command Set(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The domain" };
        var maxSize = new Option<long?>("--max-message-size") { Description = "Largest message for this domain's recipients, in MB, below the server-wide Smtp:MaxMessageSize (0: no domain limit)" };
        var tlsPolicy = Choice("--tls-policy", "TLS for mail to this domain: none, may (the default), encrypt (TLS required), verify (TLS with a valid, matching certificate)", [.. DeliverySettings.TlsLevels]);
        var tlsMatchNames = new Option<string[]>("--tls-match-name")
        {
            Description = "With --tls-policy verify: a name the server certificate may carry instead of the host name (repeatable; \"\" clears the list)",
            AllowMultipleArgumentsPerToken = false,
        };
        var hold = new Option<bool>("--hold") { Description = "Hold delivery to this domain: mail is accepted and queued, not delivered until --release" };
        var release = new Option<bool>("--release") { Description = "End the hold: the domain's queued mail becomes due now" };
        var lifetime = new Option<double?>("--queue-lifetime-days") { Description = "How long mail for this domain may wait in the queue before it bounces, in days (0: the server-wide lifetime)" };
        var verification = Choice("--recipient-verification", "Relay domains: which recipients are accepted: accept-all, listed (only addresses listed here), probe (ask the customer's server)", VerificationModes);
        var command = Leaf("set", "Change a domain's settings (several at once): message size, TLS policy, delivery hold, queue lifetime, recipient verification", globals, async (parse, context, ct) =>
        {
            var domain = await context.Directory.RequireDomainAsync(parse.GetValue(name)!, ct).ConfigureAwait(false);
            var patch = new JsonObject();
            var changes = new List<string>();
            if (parse.GetValue(maxSize) is { } mb)
            {
                if (mb is < 0 or > 1024 * 1024)
                {
                    throw new DirectoryValidationException("max-message-size", "--max-message-size: must be between 0 and 1048576 (MB)");
                }

                patch[DomainSettings.MaxMessageSize] = mb == 0 ? null : mb * 1024 * 1024;
                changes.Add(mb == 0 ? "no domain message size limit" : $"messages up to {mb} MB");
            }

            if (CheckChoice(parse, tlsPolicy, [.. DeliverySettings.TlsLevels]) is { } level)
            {
                patch[DeliverySettings.TlsPolicy] = level.ToLowerInvariant();
                changes.Add($"TLS policy {level.ToLowerInvariant()}");
            }

            if (parse.GetValue(tlsMatchNames) is { Length: > 0 } names)
            {
                var given = names.Select(n => n.Trim()).ToList();
                if (given.All(n => n.Length == 0))
                {
                    patch[DeliverySettings.TlsMatchNames] = null;
                    changes.Add("no TLS match names (the host name must match)");
                }
                else
                {
                    var valid = given.Where(n => n.Length > 0).Select(CheckMatchName).Distinct(StringComparer.Ordinal).ToList();
                    patch[DeliverySettings.TlsMatchNames] = new JsonArray([.. valid.Select(n => (JsonNode?)JsonValue.Create(n))]);
                    changes.Add($"TLS match names {string.Join(", ", valid)}");
                }
            }

            var holding = parse.GetValue(hold);
            var releasing = parse.GetValue(release);
            if (holding && releasing)
            {
                throw new CliUsageException("hold", "give --hold or --release, not both");
            }

            if (holding)
            {
                patch[DeliverySettings.Hold] = true;
                changes.Add("delivery on hold (mail is queued, not delivered, until --release)");
            }
            else if (releasing)
            {
                patch[DeliverySettings.Hold] = null;
                changes.Add("delivery not held");
            }

            if (parse.GetValue(lifetime) is { } days)
            {
                if (double.IsNaN(days) || days is < 0 or > 365)
                {
                    throw new DirectoryValidationException("queue-lifetime-days", "--queue-lifetime-days: must be between 0 (the server-wide lifetime) and 365");
                }

                patch[DeliverySettings.QueueLifetimeDays] = days == 0 ? null : days;
                changes.Add(days == 0 ? "the server-wide queue lifetime" : $"queue lifetime {days.ToString(CultureInfo.InvariantCulture)} days");
            }

            if (CheckChoice(parse, verification, VerificationModes) is { } mode)
            {
                if (!domain.Kind.HasFlag(DomainKind.Relay))
                {
                    throw new DirectoryValidationException("recipient-verification",
                        $"--recipient-verification: {Display(domain.Name)} is a {KindName(domain.Kind)} domain; recipient verification is for relay domains (kind relay or both), whose mail goes on to the customer's servers");
                }

                var parsed = DeliverySettings.ParseVerification(mode)!.Value;
                patch[DeliverySettings.RecipientVerification] = DeliverySettings.Name(parsed);
                changes.Add($"recipient verification {DeliverySettings.Name(parsed)}");
            }

            if (changes.Count == 0)
            {
                throw new CliUsageException("settings", "nothing to change: give --max-message-size, --tls-policy, --tls-match-name, --hold, --release, --queue-lifetime-days or --recipient-verification");
            }

            var merged = FeatureSettings.MergePatch(JsonNode.Parse(domain.SettingsJson), patch);
            var json = merged?.ToJsonString() ?? "{}";
            await context.Directory.SetDomainSettingsAsync(domain.Name.Ascii, json, ct).ConfigureAwait(false);
            int? madeDue = null;
            if (releasing)
            {
                var now = DateTimeOffset.UtcNow;
                var queue = context.Storage.Mail.Queue;
                madeDue = await queue.RetryDestinationNowAsync(domain.Name.Ascii, now, ct).ConfigureAwait(false)
                    + await queue.RetryDestinationNowAsync(QueueCommands.RelayPrefix + domain.Name.Ascii, now, ct).ConfigureAwait(false);
                changes.Add($"{Plural(madeDue.Value, "queued recipient")} made due now");
            }

            var size = merged is JsonObject o && o[DomainSettings.MaxMessageSize] is JsonValue v && v.TryGetValue<long>(out var bytes) ? bytes : (long?)null;
            context.Write(new { domain = domain.Name.Ascii, maxMessageSize = size, delivery = DeliveryModel.From(DeliverySettings.Read(json)), madeDue, changes },
                o => o.WriteLine($"{Display(domain.Name)}: {string.Join("; ", changes)}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(name);
        command.Options.Add(maxSize);
        command.Options.Add(tlsPolicy);
        command.Options.Add(tlsMatchNames);
        command.Options.Add(hold);
        command.Options.Add(release);
        command.Options.Add(lifetime);
        command.Options.Add(verification);
        return command;
    }

    /// <summary>A certificate name for --tls-match-name: a host name, or <c>*.</c> and a domain; stored as lower-case A-labels.</summary>
    private static string CheckMatchName(string text)
    {
        var wildcard = text.StartsWith("*.", StringComparison.Ordinal);
        var rest = (wildcard ? text[2..] : text).TrimEnd('.');
        if (!DomainName.TryParse(rest, out var parsed, out var error))
        {
            throw new DirectoryValidationException("tls-match-name", $"--tls-match-name: '{text}' is not a host name ({error})");
        }

        return (wildcard ? "*." : string.Empty) + parsed!.Ascii;
    }

    private static Command Remove(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The domain" };
        var yes = new Option<bool>("--yes") { Description = "Really remove the domain with its aliases, accounts and lists" };
        var command = Leaf("remove", "Remove a domain with its aliases, accounts and lists (needs --yes)", globals, async (parse, context, ct) =>
        {
            var text = parse.GetValue(name)!;
            var domain = await context.Directory.RequireDomainAsync(text, ct).ConfigureAwait(false);
            if (!string.Equals(DirectoryService.ParseDomain("domain", text).Ascii, domain.Name.Ascii, StringComparison.Ordinal))
            {
                throw new DirectoryValidationException("domain", $"'{text}' is a domain alias of '{domain.Name}': remove it with 'postern domain alias remove {text}'");
            }

            var m = await DescribeAsync(context, domain, ct).ConfigureAwait(false);
            if (!parse.GetValue(yes))
            {
                throw NeedsYes($"this would remove the domain {Display(domain.Name)} with {Plural(m.Aliases.Count, "domain alias", "domain aliases")}, " +
                    $"{Plural(m.Accounts, "account")} and {Plural(m.Lists, "distribution list")}");
            }

            await context.Directory.RemoveDomainAsync(text, ct).ConfigureAwait(false);
            context.Write(new { removed = m.Name, m.Aliases, m.Accounts, m.Lists }, o =>
                o.WriteLine($"removed domain {Display(domain.Name)} ({Plural(m.Aliases.Count, "domain alias", "domain aliases")}, {Plural(m.Accounts, "account")}, {Plural(m.Lists, "distribution list")})"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(name);
        command.Options.Add(yes);
        return command;
    }

    private static Command AliasAdd(GlobalOptions globals)
    {
        var domain = new Argument<string>("domain") { Description = "The domain" };
        var alias = new Argument<string>("alias") { Description = "Another name for it: every address of the domain also works @alias" };
        var command = Leaf("add", "Add a domain alias", globals, async (parse, context, ct) =>
        {
            await context.Directory.AddDomainAliasAsync(parse.GetValue(domain)!, parse.GetValue(alias)!, ct).ConfigureAwait(false);
            var target = await context.Directory.RequireDomainAsync(parse.GetValue(domain)!, ct).ConfigureAwait(false);
            var aliasName = DirectoryService.ParseDomain("alias", parse.GetValue(alias));
            context.Write(new { domain = target.Name.Unicode, alias = aliasName.Unicode, aliasAscii = aliasName.Ascii }, o =>
                o.WriteLine($"added domain alias {Display(aliasName)} of {Display(target.Name)}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(domain);
        command.Arguments.Add(alias);
        return command;
    }

    private static Command AliasRemove(GlobalOptions globals)
    {
        var alias = new Argument<string>("alias") { Description = "The domain alias" };
        var command = Leaf("remove", "Remove a domain alias", globals, async (parse, context, ct) =>
        {
            var aliasName = DirectoryService.ParseDomain("alias", parse.GetValue(alias));
            if (!await context.Directory.RemoveDomainAliasAsync(parse.GetValue(alias)!, ct).ConfigureAwait(false))
            {
                throw new DirectoryObjectNotFoundException("alias", $"there is no domain alias '{aliasName}'");
            }

            context.Write(new { removed = aliasName.Unicode }, o => o.WriteLine($"removed domain alias {Display(aliasName)}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(alias);
        return command;
    }

    internal sealed record RelayHostModel(string Host, int Port, int Priority);

    internal sealed record DomainModel(
        string Name,
        string Ascii,
        string Kind,
        string Customer,
        IReadOnlyList<RelayHostModel> RelayHosts,
        IReadOnlyList<string> Aliases,
        string? Plan,
        bool HostedMailAddOn,
        string SubaddressSeparators,
        string? CatchAll,
        int Accounts,
        int Lists,
        DateTimeOffset Created,
        DeliveryModel Delivery);

    /// <summary>A domain's delivery settings as <c>domain show</c> and <c>domain set</c> print them.</summary>
    internal sealed record DeliveryModel(string? TlsPolicy, IReadOnlyList<string> TlsMatchNames, bool Hold, double? QueueLifetimeDays, string RecipientVerification)
    {
        public static DeliveryModel From(DomainDeliverySettings s) =>
            new(s.TlsPolicy, s.TlsMatchNames, s.Hold, s.QueueLifetime?.TotalDays, DeliverySettings.Name(s.RecipientVerification));
    }

    internal static async Task<DomainModel> DescribeAsync(CliContext context, MailDomain domain, CancellationToken ct)
    {
        var store = context.Store;
        var customer = await store.GetCustomerAsync(domain.CustomerId, ct).ConfigureAwait(false);
        var aliases = await store.ListDomainAliasesAsync(domain.Id, ct).ConfigureAwait(false);
        var plan = domain.PlanId is { } planId ? await store.GetPlanAsync(planId, ct).ConfigureAwait(false) : null;
        var accounts = await store.ListAccountsAsync(domain.Id, ct).ConfigureAwait(false);
        var lists = await store.ListListsAsync(domain.Id, ct).ConfigureAwait(false);
        string? catchAll = null;
        if (domain.CatchAllAccountId is { } catchAllId && await store.GetAccountAsync(catchAllId, ct).ConfigureAwait(false) is { } target)
        {
            catchAll = await AccountAddressAsync(context, target, ct).ConfigureAwait(false);
        }

        return new DomainModel(
            domain.Name.Unicode,
            domain.Name.Ascii,
            KindName(domain.Kind),
            customer?.Name ?? $"#{domain.CustomerId}",
            domain.RelayHosts.Select(h => new RelayHostModel(h.Host, h.Port, h.Priority)).ToList(),
            aliases.Select(a => a.Unicode).ToList(),
            plan?.Name,
            domain.HostedMailAddOn,
            domain.SubaddressSeparators,
            catchAll,
            accounts.Count,
            lists.Count,
            domain.Created,
            DeliveryModel.From(DeliverySettings.Read(domain.SettingsJson)));
    }

    /// <summary>The primary address of an account.</summary>
    internal static async Task<string> AccountAddressAsync(CliContext context, Account account, CancellationToken ct)
    {
        var domain = await context.Store.GetDomainAsync(account.DomainId, ct).ConfigureAwait(false);
        return domain is null ? $"{account.LocalPart}@#{account.DomainId}" : EmailAddress.Create(account.LocalPart, domain.Name).ToString();
    }
}
