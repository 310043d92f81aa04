using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern resolve</c> (where does this address go?) and <c>postern dns records</c> (what must the zone say?).</summary>
internal static class LookupCommands
{
    public const int Ttl = 3600;

    public static Command Resolve(GlobalOptions globals)
    {
        var address = new Argument<string>("address") { Description = "The address to look up (or 'postmaster' for the bare <postmaster>)" };
        var command = Leaf("resolve", "Show what an address is and where mail for it goes (aliases, lists and forwards expanded)", globals, async (parse, context, ct) =>
        {
            var text = parse.GetValue(address)!.Trim();
            var resolved = text.Equals("postmaster", StringComparison.OrdinalIgnoreCase)
                ? context.Resolver.ResolveBarePostmaster()
                : await context.Resolver.ResolveAsync(DirectoryService.ParseAddress("address", text), ct).ConfigureAwait(false);
            string? account = null;
            if (resolved.AccountId is { } accountId && await context.Store.GetAccountAsync(accountId, ct).ConfigureAwait(false) is { } a)
            {
                account = await DomainCommands.AccountAddressAsync(context, a, ct).ConfigureAwait(false);
            }

            string? list = null;
            if (resolved.ListId is { } listId && await context.Store.GetListAsync(listId, ct).ConfigureAwait(false) is { } l && resolved.Domain is { } listDomain)
            {
                list = EmailAddress.Create(l.LocalPart, listDomain.Name).ToString();
            }

            var expansion = await context.Resolver.ExpandAsync(resolved.Address, ct).ConfigureAwait(false);
            var model = new
            {
                address = resolved.Address.ToString(),
                kind = JsonNamingPolicy.KebabCaseLower.ConvertName(resolved.Kind.ToString()),
                domain = resolved.Domain?.Name.Unicode,
                domainKind = resolved.Domain is { } d ? DomainCommands.KindName(d.Kind) : null,
                account,
                list,
                detail = resolved.Detail,
                mailboxes = expansion.Mailboxes.Select(m => new { address = m.Address.ToString(), detail = m.Detail }).ToList(),
                remote = expansion.Remote.Select(r => r.ToString()).ToList(),
                relay = expansion.Relay.Select(r => r.ToString()).ToList(),
                relayHosts = resolved.Domain?.RelayHosts.Select(h => h.ToString()).ToList() ?? [],
                problems = expansion.Problems,
            };
            context.Write(model, o =>
            {
                o.WriteLine($"address:  {model.address}");
                o.WriteLine($"kind:     {model.kind}{Explain(resolved)}");
                o.WriteLine($"domain:   {(model.domain is null ? "not one of ours" : $"{model.domain} ({model.domainKind})")}");
                if (account is not null)
                {
                    o.WriteLine($"account:  {account}");
                }

                if (list is not null)
                {
                    o.WriteLine($"list:     {list}");
                }

                if (model.detail is not null)
                {
                    o.WriteLine($"detail:   {model.detail}");
                }

                o.WriteLine("delivers to:");
                foreach (var m in model.mailboxes)
                {
                    o.WriteLine($"  mailbox {m.address}{(m.detail is null ? string.Empty : $" (detail '{m.detail}')")}");
                }

                foreach (var r in model.remote)
                {
                    o.WriteLine($"  remote  {r}");
                }

                foreach (var r in model.relay)
                {
                    o.WriteLine($"  relay   {r} via {(model.relayHosts.Count == 0 ? "the customer's mail servers" : string.Join(", ", model.relayHosts))}");
                }

                if (model.mailboxes.Count + model.remote.Count + model.relay.Count == 0)
                {
                    o.WriteLine("  nowhere");
                }

                foreach (var p in model.problems)
                {
                    o.WriteLine($"problem:  {p}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(address);
        return command;
    }

    public static Command Dns(GlobalOptions globals)
    {
        var domain = new Argument<string>("domain") { Description = "The domain (its aliases are included)" };
        var records = Leaf("records", "Print the DNS records the domain and its aliases need, in zone-file syntax (--json: an array)", globals, async (parse, context, ct) =>
        {
            var d = await context.Directory.RequireDomainAsync(parse.GetValue(domain)!, ct).ConfigureAwait(false);
            var aliases = await context.Store.ListDomainAliasesAsync(d.Id, ct).ConfigureAwait(false);
            var host = context.Config.Hostname.TrimEnd('.') + ".";
            var all = new List<DnsRecordModel>();
            using var zone = new StringWriter(CultureInfo.InvariantCulture);
            zone.WriteLine($"; DNS records for {DomainCommands.Display(d.Name)} ({DomainCommands.KindName(d.Kind)}), mail exchanger {host}");
            if (context.Config.HostnameGuessed)
            {
                zone.WriteLine($"; the hostname {host} was guessed from the machine name: set Server:Hostname to the name other servers reach this one by");
            }

            foreach (var name in new[] { d.Name }.Concat(aliases))
            {
                var recordsOfName = For(name, d, host);
                all.AddRange(recordsOfName);
                zone.WriteLine();
                zone.WriteLine(name.IsInternational ? $"; {name.Unicode} (written below in its A-label form {name.Ascii})" : $"; {name.Ascii}");
                if (!string.Equals(name.Ascii, d.Name.Ascii, StringComparison.Ordinal))
                {
                    zone.WriteLine($"; a domain alias of {d.Name.Unicode}");
                }

                foreach (var r in recordsOfName)
                {
                    zone.WriteLine(r.Type == "TXT" ? $"{r.Name} {r.Ttl} IN TXT \"{r.Value}\"" : $"{r.Name} {r.Ttl} IN {r.Type} {r.Value}");
                    if (r.Purpose == "spf" && d.Kind == DomainKind.Relay)
                    {
                        zone.WriteLine("; SPF: the customer's own outbound mail servers must be added (ip4:, ip6: or include:) before -all, or their mail fails SPF");
                    }

                    if (r.Purpose == "dmarc")
                    {
                        zone.WriteLine("; DMARC: p=none only monitors; once the reports show legitimate mail passing, move to p=quarantine, then p=reject");
                    }
                }
            }

            zone.WriteLine();
            zone.WriteLine("; DKIM, MTA-STS and autoconfig records are not generated yet: a later version adds them");
            context.Write(all, o => o.Write(zone.ToString()));
            return ExitCodes.Ok;
        });
        records.Arguments.Add(domain);
        return Group("dns", "DNS records for domains", globals, records);
    }

    internal sealed record DnsRecordModel(string Name, string Type, int Ttl, string Value, string Purpose);

    private static List<DnsRecordModel> For(DomainName name, MailDomain domain, string host)
    {
        var fqdn = name.Ascii + ".";
        _ = domain;
        return
        [
            new(fqdn, "MX", Ttl, $"10 {host}", "mx"),
            new(fqdn, "TXT", Ttl, "v=spf1 mx -all", "spf"),
            new("_dmarc." + fqdn, "TXT", Ttl, $"v=DMARC1; p=none; rua=mailto:postmaster@{name.Ascii}", "dmarc"),
        ];
    }

    private static string Explain(ResolvedRecipient r) => r.Kind switch
    {
        RecipientKind.Unknown when r.Domain is null => " (not a domain of ours: mail goes to the Internet)",
        RecipientKind.Unknown => " (no such address: mail is rejected)",
        RecipientKind.RelayRecipient => " (a relay domain: accepted and passed on to the customer's mail servers)",
        RecipientKind.CatchAll => " (no such address: the domain's catch-all takes it)",
        RecipientKind.Postmaster => " (the implicit postmaster)",
        _ => string.Empty,
    };
}
