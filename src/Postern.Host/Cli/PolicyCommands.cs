using System.CommandLine;
using System.Globalization;
using Postern.Core.Tenants;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern policy set|show|effective</c>: filter policies per scope.</summary>
internal static class PolicyCommands
{
    private static readonly string[] Digests = ["never", "daily", "weekly"];

    private const string ScopeHelp = "global, reseller:NAME, customer:NAME, domain:NAME or account:EMAIL";

    public static Command Create(GlobalOptions globals) => Group("policy", "Filter policies: thresholds and switches per scope (the nearest level wins per field)", globals,
        Set(globals), Show(globals), Effective(globals));

    private static Command Set(GlobalOptions globals)
    {
        var scope = new Argument<string>("scope") { Description = ScopeHelp };
        var name = new Option<string?>("--name") { Description = "The policy's name (default: the present name, or the scope)" };
        var tag = new Option<double?>("--tag-level") { Description = "Score at which spam headers are added" };
        var spammy = new Option<double?>("--spammy-level") { Description = "Score from which a message counts as spammy (bulk)" };
        var quarantine = new Option<double?>("--quarantine-level") { Description = "Score from which a message is quarantined" };
        var reject = new Option<double?>("--reject-level") { Description = "Score from which a message is rejected" };
        var retention = new Option<int?>("--quarantine-retention-days") { Description = "Days quarantined mail is kept (0: store nothing)" };
        var digest = Choice("--digest", "How often a quarantine digest is sent", Digests);
        var command = Leaf("set", "Set fields of the policy attached to a scope (fields not given stay as they are)", globals, async (parse, context, ct) =>
        {
            var s = await TenantCommands.ParseScopeAsync(context, parse.GetValue(scope)!, ct, allowAccount: true).ConfigureAwait(false);
            DigestFrequency? frequency = CheckChoice(parse, digest, Digests) switch
            {
                "never" => DigestFrequency.Never,
                "daily" => DigestFrequency.Daily,
                "weekly" => DigestFrequency.Weekly,
                _ => null,
            };
            var change = new FilterPolicy
            {
                TagLevel = parse.GetValue(tag),
                SpammyLevel = parse.GetValue(spammy),
                QuarantineLevel = parse.GetValue(quarantine),
                RejectLevel = parse.GetValue(reject),
                QuarantineRetentionDays = parse.GetValue(retention),
                DigestFrequency = frequency,
            };
            var existing = await context.Store.GetPolicyAsync(s, ct).ConfigureAwait(false);
            var policy = (existing?.Policy ?? new FilterPolicy()).OverlaidWith(change);
            var scopeText = await TenantCommands.DescribeScopeAsync(context, s, ct).ConfigureAwait(false);
            var policyName = parse.GetValue(name) ?? existing?.Name ?? scopeText;
            await context.Directory.SetPolicyAsync(s, policyName, policy, ct).ConfigureAwait(false);
            var stored = await context.Store.GetPolicyAsync(s, ct).ConfigureAwait(false);
            var model = new { scope = scopeText, name = stored?.Name, policy = stored?.Policy };
            context.Write(model, o =>
            {
                o.WriteLine($"policy '{model.name}' at {scopeText}:");
                WritePolicy(o, stored?.Policy ?? policy, inheritedText: "(inherited)");
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(scope);
        foreach (var option in new Option[] { name, tag, spammy, quarantine, reject, retention, digest })
        {
            command.Options.Add(option);
        }

        return command;
    }

    private static Command Show(GlobalOptions globals)
    {
        var scope = new Argument<string>("scope") { Description = ScopeHelp };
        var command = Leaf("show", "Show the policy stored at a scope (fields it leaves empty are inherited)", globals, async (parse, context, ct) =>
        {
            var s = await TenantCommands.ParseScopeAsync(context, parse.GetValue(scope)!, ct, allowAccount: true).ConfigureAwait(false);
            var scopeText = await TenantCommands.DescribeScopeAsync(context, s, ct).ConfigureAwait(false);
            var stored = await context.Store.GetPolicyAsync(s, ct).ConfigureAwait(false);
            context.Write(new { scope = scopeText, name = stored?.Name, policy = stored?.Policy }, o =>
            {
                if (stored is null)
                {
                    o.WriteLine($"no policy is attached at {scopeText}: every field is inherited");
                    return;
                }

                o.WriteLine($"policy '{stored.Name}' at {scopeText}:");
                WritePolicy(o, stored.Policy, inheritedText: "(inherited)");
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(scope);
        return command;
    }

    private static Command Effective(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var command = Leaf("effective", "Show the policy that applies to an account, every level merged", globals, async (parse, context, ct) =>
        {
            var (account, domain) = await context.Directory.RequireAccountAsync(parse.GetValue(email)!, ct).ConfigureAwait(false);
            var policy = await new PolicyResolver(context.Store).GetForAccountAsync(account.Id, ct).ConfigureAwait(false);
            var address = Postern.Primitives.EmailAddress.Create(account.LocalPart, domain.Name).ToString();
            context.Write(new { account = address, policy }, o =>
            {
                o.WriteLine($"effective policy of {address}:");
                WritePolicy(o, policy, inheritedText: "-");
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        return command;
    }

    private static void WritePolicy(TextWriter o, FilterPolicy p, string inheritedText)
    {
        o.WriteLine($"  tag level:             {Number(p.TagLevel)}");
        o.WriteLine($"  spammy level:          {Number(p.SpammyLevel)}");
        o.WriteLine($"  quarantine level:      {Number(p.QuarantineLevel)}");
        o.WriteLine($"  reject level:          {Number(p.RejectLevel)}");
        o.WriteLine($"  quarantine retention:  {(p.QuarantineRetentionDays is { } days ? Plural(days, "day") : inheritedText)}");
        o.WriteLine($"  digest:                {(p.DigestFrequency is { } d ? d.ToString().ToLowerInvariant() : inheritedText)}");
        if (p.BypassSpamChecks is not null || p.BypassVirusChecks is not null || p.BypassBannedFileChecks is not null || p.BypassHeaderChecks is not null)
        {
            o.WriteLine($"  bypass spam/virus/banned/header checks: {Flag(p.BypassSpamChecks)}/{Flag(p.BypassVirusChecks)}/{Flag(p.BypassBannedFileChecks)}/{Flag(p.BypassHeaderChecks)}");
        }

        if (p.BannedFileRules is { } rules)
        {
            o.WriteLine($"  banned files:          {string.Join(" ", rules)}");
        }

        string Number(double? value) => value?.ToString(CultureInfo.InvariantCulture) ?? inheritedText;

        string Flag(bool? value) => value switch { true => "yes", false => "no", null => inheritedText };
    }
}
