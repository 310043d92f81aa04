using System.CommandLine;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern domain add|list|show|remove</c> and <c>postern domain alias add|remove</c>.</summary>
internal static class DomainCommands
{
    private static readonly string[] Kinds = ["hosted", "relay", "both"];

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
        var command = Leaf("set", "Change a domain's settings", globals, async (parse, context, ct) =>
        {
            var domain = await context.Directory.RequireDomainAsync(parse.GetValue(name)!, ct).ConfigureAwait(false);
            var mb = parse.GetValue(maxSize) ?? throw new DirectoryValidationException("max-message-size", "nothing to change: give --max-message-size");
            if (mb is < 0 or > 1024 * 1024)
            {
                throw new DirectoryValidationException("max-message-size", "--max-message-size: must be between 0 and 1048576 (MB)");
            }

            var patch = new System.Text.Json.Nodes.JsonObject { [DomainSettings.MaxMessageSize] = mb == 0 ? null : mb * 1024 * 1024 };
            var merged = FeatureSettings.MergePatch(System.Text.Json.Nodes.JsonNode.Parse(domain.SettingsJson), patch);
            await context.Directory.SetDomainSettingsAsync(domain.Name.Ascii, merged?.ToJsonString() ?? "{}", ct).ConfigureAwait(false);
            context.Write(new { domain = domain.Name.Ascii, maxMessageSize = mb == 0 ? (long?)null : mb * 1024 * 1024 },
                o => o.WriteLine(mb == 0 ? $"{Display(domain.Name)}: no domain message size limit" : $"{Display(domain.Name)}: messages up to {mb} MB"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(name);
        command.Options.Add(maxSize);
        return command;
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
        DateTimeOffset Created);

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
            domain.Created);
    }

    /// <summary>The primary address of an account.</summary>
    internal static async Task<string> AccountAddressAsync(CliContext context, Account account, CancellationToken ct)
    {
        var domain = await context.Store.GetDomainAsync(account.DomainId, ct).ConfigureAwait(false);
        return domain is null ? $"{account.LocalPart}@#{account.DomainId}" : EmailAddress.Create(account.LocalPart, domain.Name).ToString();
    }
}
