using System.CommandLine;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern alias</c>, <c>postern list</c> and <c>postern forward</c>: the addresses that lead to accounts.</summary>
internal static class AddressCommands
{
    private static readonly string[] PostingPolicies = ["anyone", "members", "domain"];

    public static Command Alias(GlobalOptions globals) => Group("alias", "Account aliases (ALIAS may be @domain for a catch-all)", globals, AliasAdd(globals), AliasRemove(globals));

    public static Command List(GlobalOptions globals) => Group("list", "Distribution lists", globals,
        ListAdd(globals),
        Group("member", "List members", globals, Member(globals, add: true), Member(globals, add: false)),
        ListShow(globals));

    public static Command Forward(GlobalOptions globals) => Group("forward", "Forwarding of an account's mail", globals, ForwardSet(globals));

    public static string PostingName(ListPostingPolicy policy) => policy switch
    {
        ListPostingPolicy.MembersOnly => "members",
        ListPostingPolicy.DomainOnly => "domain",
        _ => "anyone",
    };

    private static Command AliasAdd(GlobalOptions globals)
    {
        var alias = new Argument<string>("alias") { Description = "The alias address, or @domain (also written *@domain) to make the account that domain's catch-all" };
        var account = new Argument<string>("account") { Description = "The account it leads to" };
        var command = Leaf("add", "Add an alias address for an account (in its domain or another domain of the same customer)", globals, async (parse, context, ct) =>
        {
            var aliasText = CatchAllSpelling(parse.GetValue(alias)!);
            await context.Directory.AddAliasAsync(aliasText, parse.GetValue(account)!, ct).ConfigureAwait(false);
            var (target, _) = await context.Directory.RequireAccountAsync(parse.GetValue(account)!, ct).ConfigureAwait(false);
            var targetAddress = await DomainCommands.AccountAddressAsync(context, target, ct).ConfigureAwait(false);
            var catchAll = aliasText.StartsWith('@');
            var shown = catchAll ? "@" + DirectoryService.ParseDomain("alias", aliasText[1..]).Unicode : DirectoryService.ParseAddress("alias", aliasText).ToString();
            context.Write(new { alias = shown, account = targetAddress, catchAll }, o =>
                o.WriteLine(catchAll ? $"{targetAddress} is now the catch-all of {shown[1..]}" : $"added alias {shown} -> {targetAddress}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(alias);
        command.Arguments.Add(account);
        return command;
    }

    private static Command AliasRemove(GlobalOptions globals)
    {
        var alias = new Argument<string>("alias") { Description = "The alias address, or @domain (also written *@domain) to remove the catch-all" };
        var command = Leaf("remove", "Remove an alias address (or a domain's catch-all)", globals, async (parse, context, ct) =>
        {
            var aliasText = CatchAllSpelling(parse.GetValue(alias)!);
            if (!await context.Directory.RemoveAliasAsync(aliasText, ct).ConfigureAwait(false))
            {
                throw new DirectoryObjectNotFoundException("alias", aliasText.StartsWith('@') ? $"{aliasText[1..]} has no catch-all" : $"there is no alias '{aliasText}'");
            }

            context.Write(new { removed = aliasText }, o => o.WriteLine(aliasText.StartsWith('@') ? $"removed the catch-all of {aliasText[1..]}" : $"removed alias {aliasText}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(alias);
        return command;
    }

    private static Command ListAdd(GlobalOptions globals)
    {
        var address = new Argument<string>("address") { Description = "The list's address" };
        var name = new Option<string?>("--name") { Description = "The list's name (default: the local part)" };
        var posting = Choice("--posting", "Who may post: anyone, members only, or senders of the list's domain (default: anyone)", PostingPolicies);
        var command = Leaf("add", "Add a distribution list", globals, async (parse, context, ct) =>
        {
            var policy = CheckChoice(parse, posting, PostingPolicies) switch
            {
                "members" => ListPostingPolicy.MembersOnly,
                "domain" => ListPostingPolicy.DomainOnly,
                _ => ListPostingPolicy.Anyone,
            };
            var list = await context.Directory.AddListAsync(parse.GetValue(address)!, parse.GetValue(name), policy, ct).ConfigureAwait(false);
            var model = await DescribeListAsync(context, list, ct).ConfigureAwait(false);
            context.Write(model, o => o.WriteLine($"added distribution list {model.Address} ({model.Name}; posting: {model.Posting})"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(address);
        command.Options.Add(name);
        command.Options.Add(posting);
        return command;
    }

    private static Command Member(GlobalOptions globals, bool add)
    {
        var list = new Argument<string>("list") { Description = "The list's address" };
        var member = new Argument<string>("member") { Description = "The member's address (here or elsewhere)" };
        var command = Leaf(add ? "add" : "remove", add ? "Add a member to a list" : "Remove a member from a list", globals, async (parse, context, ct) =>
        {
            var listText = parse.GetValue(list)!;
            var memberAddress = DirectoryService.ParseAddress("member", parse.GetValue(member));
            var (l, _) = await context.Directory.RequireListAsync(listText, ct).ConfigureAwait(false);
            var listModel = await DescribeListAsync(context, l, ct).ConfigureAwait(false);
            if (add)
            {
                if (!await context.Directory.AddListMemberAsync(listText, memberAddress.ToString(), context.Resolver, ct).ConfigureAwait(false))
                {
                    throw new DirectoryValidationException("member", $"'{memberAddress}' is already a member of {listModel.Address}");
                }
            }
            else if (!await context.Directory.RemoveListMemberAsync(listText, memberAddress.ToString(), ct).ConfigureAwait(false))
            {
                throw new DirectoryObjectNotFoundException("member", $"'{memberAddress}' is not a member of {listModel.Address}");
            }

            context.Write(new { list = listModel.Address, member = memberAddress.ToString(), added = add }, o =>
                o.WriteLine(add ? $"added {memberAddress} to {listModel.Address}" : $"removed {memberAddress} from {listModel.Address}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(list);
        command.Arguments.Add(member);
        return command;
    }

    private static Command ListShow(GlobalOptions globals)
    {
        var list = new Argument<string>("list") { Description = "The list's address" };
        var command = Leaf("show", "Show a list: name, who may post, members", globals, async (parse, context, ct) =>
        {
            var (l, _) = await context.Directory.RequireListAsync(parse.GetValue(list)!, ct).ConfigureAwait(false);
            var model = await DescribeListAsync(context, l, ct).ConfigureAwait(false);
            context.Write(model, o =>
            {
                o.WriteLine($"list:     {model.Address}");
                o.WriteLine($"name:     {model.Name}");
                o.WriteLine($"posting:  {model.Posting}");
                o.WriteLine($"members:  {(model.Members.Count == 0 ? "-" : string.Empty)}");
                foreach (var m in model.Members)
                {
                    o.WriteLine($"  {m}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(list);
        return command;
    }

    private static Command ForwardSet(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var to = new Option<string[]>("--to") { Description = "Forward to this address (repeatable; none clears forwarding)", AllowMultipleArgumentsPerToken = false };
        var keepCopy = new Option<bool>("--keep-copy") { Description = "Also keep the mail in the account's mailbox" };
        var command = Leaf("set", "Set (or with no --to, clear) an account's forwarding", globals, async (parse, context, ct) =>
        {
            var address = parse.GetValue(email)!;
            var targets = parse.GetValue(to) ?? [];
            if (targets.Length == 0 && parse.GetValue(keepCopy))
            {
                throw new CliUsageException("keep-copy", "--keep-copy needs at least one --to (without --to forwarding is cleared)");
            }

            await context.Directory.SetForwardAsync(address, targets, parse.GetValue(keepCopy), ct).ConfigureAwait(false);
            var (account, _) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
            var shown = await DomainCommands.AccountAddressAsync(context, account, ct).ConfigureAwait(false);
            context.Write(new { address = shown, forwardTo = account.ForwardTo, keepCopy = account.ForwardKeepCopy }, o =>
                o.WriteLine(account.ForwardTo.Count == 0
                    ? $"forwarding of {shown} cleared: mail stays in the mailbox"
                    : $"mail for {shown} is forwarded to {string.Join(", ", account.ForwardTo)}{(account.ForwardKeepCopy ? " (a copy stays in the mailbox)" : string.Empty)}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        command.Options.Add(to);
        command.Options.Add(keepCopy);
        return command;
    }

    /// <summary><c>*@domain</c> is accepted for <c>@domain</c> (a shell-safe spelling that the parser does not take for a response file).</summary>
    private static string CatchAllSpelling(string text)
    {
        var trimmed = text.Trim();
        return trimmed.StartsWith("*@", StringComparison.Ordinal) ? trimmed[1..] : trimmed;
    }

    internal sealed record ListModel(string Address, string Name, string Posting, IReadOnlyList<string> Members);

    private static async Task<ListModel> DescribeListAsync(CliContext context, DistributionList list, CancellationToken ct)
    {
        var domain = await context.Store.GetDomainAsync(list.DomainId, ct).ConfigureAwait(false);
        var address = domain is null ? list.LocalPart : EmailAddress.Create(list.LocalPart, domain.Name).ToString();
        var members = list.Members.Select(m => EmailAddress.TryParse(m, out var a, out _) ? a!.ToString() : m).ToList();
        return new ListModel(address, list.Name, PostingName(list.PostingPolicy), members);
    }
}
