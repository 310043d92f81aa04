using System.CommandLine;
using System.Globalization;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern account add|list|show|passwd|disable|enable|remove|import</c>.</summary>
internal static class AccountCommands
{
    private const long Megabyte = 1024 * 1024;

    public static Command Create(GlobalOptions globals) => Group("account", "Email accounts of hosted domains", globals,
        Add(globals), List(globals), Show(globals), Passwd(globals), SetDisabled(globals, "disable", true), SetDisabled(globals, "enable", false),
        Remove(globals), Import(globals), SendAs(globals));

    private static Command Add(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var password = CliPasswords.PasswordOption();
        var stdin = CliPasswords.PasswordStdinOption();
        var name = new Option<string?>("--name") { Description = "The display name" };
        var quota = new Option<long>("--quota") { Description = "The quota in MB (0: no limit)", DefaultValueFactory = _ => 0 };
        var command = Leaf("add", "Add an account (with neither password option a password is generated and printed once)", globals, async (parse, context, ct) =>
        {
            var (secret, generated) = CliPasswords.Get(parse, password, stdin);
            var account = await context.Directory.AddAccountAsync(parse.GetValue(email)!, secret, parse.GetValue(name), parse.GetValue(quota), ct).ConfigureAwait(false);
            var address = await DomainCommands.AccountAddressAsync(context, account, ct).ConfigureAwait(false);
            context.Write(new { address, name = account.DisplayName, quotaMb = account.QuotaBytes / Megabyte, generatedPassword = generated ? secret : null }, o =>
            {
                o.WriteLine($"added account {address}");
                if (generated)
                {
                    o.WriteLine($"password: {secret}");
                    o.WriteLine("(generated; shown only this once)");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        command.Options.Add(password);
        command.Options.Add(stdin);
        command.Options.Add(name);
        command.Options.Add(quota);
        return command;
    }

    private static Command List(GlobalOptions globals)
    {
        var domain = new Argument<string>("domain") { Description = "The domain" };
        var command = Leaf("list", "List a domain's accounts", globals, async (parse, context, ct) =>
        {
            var d = await context.Directory.RequireDomainAsync(parse.GetValue(domain)!, ct).ConfigureAwait(false);
            var accounts = await context.Store.ListAccountsAsync(d.Id, ct).ConfigureAwait(false);
            var models = accounts.Select(a => new
            {
                address = EmailAddress.Create(a.LocalPart, d.Name).ToString(),
                name = a.DisplayName,
                quotaMb = a.QuotaBytes / Megabyte,
                disabled = a.Disabled,
                forwardTo = a.ForwardTo,
            }).ToList();
            context.Write(models, o =>
            {
                if (models.Count == 0)
                {
                    o.WriteLine($"no accounts in {d.Name}");
                }

                foreach (var m in models)
                {
                    var quotaText = m.quotaMb == 0 ? "no quota" : $"{m.quotaMb} MB";
                    o.WriteLine($"{m.address}  {(m.name.Length == 0 ? "-" : m.name)}  {quotaText}{(m.disabled ? "  disabled" : string.Empty)}{(m.forwardTo.Count > 0 ? "  forwarded" : string.Empty)}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(domain);
        return command;
    }

    private static Command Show(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var command = Leaf("show", "Show an account: name, quota, disabled, aliases, forwarding", globals, async (parse, context, ct) =>
        {
            var (account, domain) = await context.Directory.RequireAccountAsync(parse.GetValue(email)!, ct).ConfigureAwait(false);
            var aliases = new List<string>();
            foreach (var alias in await context.Store.ListAliasesAsync(account.Id, ct).ConfigureAwait(false))
            {
                var aliasDomain = alias.DomainId == domain.Id ? domain : await context.Store.GetDomainAsync(alias.DomainId, ct).ConfigureAwait(false);
                aliases.Add(aliasDomain is null ? alias.LocalPart : EmailAddress.Create(alias.LocalPart, aliasDomain.Name).ToString());
            }

            var catchAll = (await context.Store.ListDomainsAsync(domain.CustomerId, ct).ConfigureAwait(false))
                .Where(d => d.CatchAllAccountId == account.Id).Select(d => "@" + d.Name.Unicode).ToList();
            var model = new
            {
                address = EmailAddress.Create(account.LocalPart, domain.Name).ToString(),
                name = account.DisplayName,
                quotaMb = account.QuotaBytes / Megabyte,
                disabled = account.Disabled,
                aliases,
                catchAll,
                forwardTo = account.ForwardTo,
                forwardKeepCopy = account.ForwardKeepCopy,
                created = account.Created,
            };
            context.Write(model, o =>
            {
                o.WriteLine($"account:   {model.address}");
                o.WriteLine($"name:      {(model.name.Length == 0 ? "-" : model.name)}");
                o.WriteLine($"quota:     {(model.quotaMb == 0 ? "no limit" : $"{model.quotaMb} MB")}");
                o.WriteLine($"disabled:  {(model.disabled ? "yes" : "no")}");
                o.WriteLine($"aliases:   {(aliases.Count + catchAll.Count == 0 ? "-" : string.Join(", ", aliases.Concat(catchAll.Select(c => c + " (catch-all)"))))}");
                o.WriteLine($"forwards:  {(model.forwardTo.Count == 0 ? "-" : string.Join(", ", model.forwardTo) + (model.forwardKeepCopy ? " (keeps a copy)" : string.Empty))}");
                o.WriteLine($"created:   {model.created.ToString("u", CultureInfo.InvariantCulture)}");
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        return command;
    }

    private static Command Passwd(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var password = CliPasswords.PasswordOption();
        var stdin = CliPasswords.PasswordStdinOption();
        var command = Leaf("passwd", "Set an account's password (with neither password option a password is generated and printed once)", globals, async (parse, context, ct) =>
        {
            var (secret, generated) = CliPasswords.Get(parse, password, stdin);
            var address = parse.GetValue(email)!;
            await context.Directory.SetPasswordAsync(address, secret, ct).ConfigureAwait(false);
            var (account, _) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
            var shown = await DomainCommands.AccountAddressAsync(context, account, ct).ConfigureAwait(false);
            context.Write(new { address = shown, generatedPassword = generated ? secret : null }, o =>
            {
                o.WriteLine($"password of {shown} changed");
                if (generated)
                {
                    o.WriteLine($"password: {secret}");
                    o.WriteLine("(generated; shown only this once)");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        command.Options.Add(password);
        command.Options.Add(stdin);
        return command;
    }

    private static Command SetDisabled(GlobalOptions globals, string verb, bool disabled)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var command = Leaf(verb, disabled ? "Disable an account: it no longer signs in or receives mail" : "Enable a disabled account", globals, async (parse, context, ct) =>
        {
            var address = parse.GetValue(email)!;
            await context.Directory.SetDisabledAsync(address, disabled, ct).ConfigureAwait(false);
            var (account, _) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
            var shown = await DomainCommands.AccountAddressAsync(context, account, ct).ConfigureAwait(false);
            context.Write(new { address = shown, disabled }, o => o.WriteLine($"{(disabled ? "disabled" : "enabled")} account {shown}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        return command;
    }

    private static Command SendAs(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var grant = new Argument<string?>("address") { Description = "An address the account may send as, or @domain for all of a domain; none lists the grants", Arity = ArgumentArity.ZeroOrOne };
        var remove = new Option<bool>("--remove") { Description = "Take the grant back" };
        var command = Leaf("send-as", "Let an account send as another address on submission (envelope sender and From)", globals, async (parse, context, ct) =>
        {
            var address = parse.GetValue(email)!;
            IReadOnlyList<string> grants;
            if (parse.GetValue(grant) is { } given)
            {
                grants = await context.Directory.SetSendAsAsync(address, given, !parse.GetValue(remove), ct).ConfigureAwait(false);
            }
            else
            {
                var (account, _) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
                grants = Core.Tenants.AccountSettings.ReadSendAs(account.SettingsJson);
            }

            context.Write(new { account = address, sendAs = grants }, o =>
                o.WriteLine(grants.Count == 0 ? $"{address} sends only as itself and its aliases" : $"{address} may also send as: {string.Join(", ", grants)}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        command.Arguments.Add(grant);
        command.Options.Add(remove);
        return command;
    }

    private static Command Remove(GlobalOptions globals)
    {
        var email = new Argument<string>("email") { Description = "The account's address" };
        var yes = new Option<bool>("--yes") { Description = "Really remove the account with its aliases" };
        var command = Leaf("remove", "Remove an account with its aliases (needs --yes)", globals, async (parse, context, ct) =>
        {
            var address = parse.GetValue(email)!;
            var (account, domain) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
            var shown = EmailAddress.Create(account.LocalPart, domain.Name).ToString();
            var aliases = await context.Store.ListAliasesAsync(account.Id, ct).ConfigureAwait(false);
            var catchAll = (await context.Store.ListDomainsAsync(domain.CustomerId, ct).ConfigureAwait(false))
                .Where(d => d.CatchAllAccountId == account.Id).Select(d => d.Name.Unicode).ToList();
            if (!parse.GetValue(yes))
            {
                var catchAllText = catchAll.Count == 0 ? string.Empty : $" (it is the catch-all of {string.Join(", ", catchAll)})";
                throw NeedsYes($"this would remove the account {shown} with {Plural(aliases.Count, "alias", "aliases")}{catchAllText}");
            }

            await context.Directory.RemoveAccountAsync(address, ct).ConfigureAwait(false);
            context.Write(new { removed = shown, aliases = aliases.Count }, o => o.WriteLine($"removed account {shown} ({Plural(aliases.Count, "alias", "aliases")})"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(email);
        command.Options.Add(yes);
        return command;
    }

    private static Command Import(GlobalOptions globals)
    {
        var file = new Argument<string>("file") { Description = "CSV with the columns email,password,name,quota (quota in MB; '-' reads standard input)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check every line, import nothing" };
        var partial = new Option<bool>("--partial") { Description = "Import the good lines even when others have errors" };
        var command = Leaf("import", "Create accounts from a CSV file: all or nothing unless --partial", globals, async (parse, context, ct) =>
        {
            var path = parse.GetValue(file)!;
            TextReader reader;
            if (path == "-")
            {
                reader = CliPasswords.Input;
            }
            else
            {
                try
                {
                    reader = new StreamReader(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    throw new CliUsageException("file", $"cannot read '{path}': {e.Message}");
                }
            }

            var options = new ImportOptions(parse.GetValue(dryRun), parse.GetValue(partial));
            ImportResult result;
            using (reader == CliPasswords.Input ? null : reader)
            {
                result = await new AccountImporter(context.Store, context.Hasher).ImportAsync(reader, options, ct).ConfigureAwait(false);
            }

            var done = options.DryRun ? result.Valid : result.Imported;
            var refused = result.HasErrors && (!options.Partial || done == 0);
            var summary = Summarize(result, options, refused);
            var code = refused ? ExitCodes.Refused : ExitCodes.Ok;
            if (context.Json)
            {
                var model = new
                {
                    error = refused ? summary : null,
                    field = refused ? "csv" : null,
                    imported = result.Imported,
                    valid = result.Valid,
                    dryRun = result.DryRun,
                    refused,
                    summary,
                    errors = result.Errors.Select(e => new { line = e.Line, field = e.Field, message = e.Message }).ToList(),
                    exitCode = code,
                };
                (refused ? context.Error : context.Out).WriteLine(CliContext.ToJson(model));
                return code;
            }

            foreach (var error in result.Errors)
            {
                context.Error.WriteLine(error.ToString());
            }

            (refused ? context.Error : context.Out).WriteLine(summary);
            return code;
        });
        command.Arguments.Add(file);
        command.Options.Add(dryRun);
        command.Options.Add(partial);
        return command;
    }

    private static string Summarize(ImportResult result, ImportOptions options, bool refused)
    {
        var bad = result.Errors.Select(e => e.Line).Distinct().Count();
        var errors = Plural(bad, "line") + " with errors";
        if (options.DryRun)
        {
            var verdict = refused ? "the import would be refused" : "the import would succeed";
            return $"dry run: {Plural(result.Valid, "account")} valid, {errors}; {verdict}; nothing was imported";
        }

        if (refused)
        {
            return result.Valid > 0
                ? $"import refused: {errors}; nothing was imported (fix them, or use --partial to import the {Plural(result.Valid, "good line")})"
                : $"import refused: {errors}; nothing was imported";
        }

        return result.HasErrors
            ? $"imported {Plural(result.Imported, "account")}; skipped {errors}"
            : $"imported {Plural(result.Imported, "account")}";
    }
}
