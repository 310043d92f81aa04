using System.CommandLine;
using Postern.Mailboxes.Maildir;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern import maildir</c>: Dovecot Maildirs into existing accounts (docs/import.md).</summary>
internal static class ImportCommands
{
    /// <summary>Problems printed per account in the human report (a broken folder can have thousands).</summary>
    private const int MaxProblemsShown = 50;

    public static Command Create(GlobalOptions globals) => Group("import", "Import mail from other servers", globals, Maildir(globals));

    private static Command Maildir(GlobalOptions globals)
    {
        var path = new Argument<string?>("maildir") { Description = "The account's Maildir (with --account)", Arity = ArgumentArity.ZeroOrOne };
        var account = new Option<string?>("--account") { Description = "The account to import into (it must exist)" };
        var tree = new Option<string?>("--tree") { Description = "A fan-out tree <root>/<d1>/<d2>/<domain>/<l1>/<localpart>/ to import every mailbox of" };
        var domain = new Option<string?>("--domain") { Description = "With --tree: only this domain's mailboxes" };
        var renumber = new Option<bool>("--renumber") { Description = "Import into folders that already hold mail, with new UIDs (a second run would import those messages again)" };
        var command = Leaf("maildir", "Import Dovecot Maildirs keeping UIDVALIDITY, UIDs, flags, keywords and subscriptions; safe to run again", globals, async (parse, context, ct) =>
        {
            var one = parse.GetValue(account);
            var root = parse.GetValue(tree);
            var given = parse.GetValue(path);
            if (one is null == root is null)
            {
                throw new CliUsageException("account", "give --account ADDRESS MAILDIR, or --tree ROOT");
            }

            if (one is not null && given is null)
            {
                throw new CliUsageException("maildir", "--account needs the Maildir to import");
            }

            if (root is not null && given is not null)
            {
                throw new CliUsageException("maildir", "--tree walks ROOT itself: give no Maildir argument");
            }

            if (parse.GetValue(domain) is not null && root is null)
            {
                throw new CliUsageException("domain", "--domain goes with --tree");
            }

            var targets = new List<(string Address, string Maildir)>();
            IReadOnlyList<string> notMaildirs = [];
            if (one is not null)
            {
                if (!Directory.Exists(given))
                {
                    throw new CliUsageException("maildir", $"'{given}' is not a directory");
                }

                targets.Add((one, given!));
            }
            else
            {
                if (!Directory.Exists(root))
                {
                    throw new CliUsageException("tree", $"'{root}' is not a directory");
                }

                targets.AddRange(MaildirTree.Find(root!, parse.GetValue(domain), out notMaildirs).Select(e => (e.Address, e.Maildir)));
                if (targets.Count == 0 && notMaildirs.Count == 0)
                {
                    var which = parse.GetValue(domain) is { } d ? $" for {d}" : string.Empty;
                    throw new DirectoryObjectNotFoundException("tree", $"no mailbox{which} under '{root}' (expected ROOT/d1/d2/DOMAIN/l1/LOCALPART/)");
                }
            }

            var mail = context.Storage.Mail;
            var importer = new MaildirImporter(mail.Mailboxes, mail.Blobs, new MaildirImportOptions { Renumber = parse.GetValue(renumber) });
            var reports = new List<AccountImport>();
            var missing = new List<string>();
            foreach (var (address, maildir) in targets)
            {
                Core.Tenants.Account found;
                try
                {
                    (found, _) = await context.Directory.RequireAccountAsync(address, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (root is not null && e is DirectoryObjectNotFoundException or DirectoryValidationException)
                {
                    missing.Add($"{address} ({maildir}): {e.Message}");
                    continue;
                }

                MaildirImportReport report;
                try
                {
                    report = await importer.ImportAsync(found.Id, found.DomainId, maildir, ct).ConfigureAwait(false);
                }
                catch (DirectoryNotFoundException e) when (root is null)
                {
                    throw new CliUsageException("maildir", e.Message);
                }

                reports.Add(new AccountImport(address, report));
            }

            var complete = missing.Count == 0 && notMaildirs.Count == 0 && reports.All(r => r.Report.Complete);
            var model = new
            {
                accounts = reports.Select(r => new
                {
                    address = r.Address,
                    maildir = r.Report.Maildir,
                    imported = r.Report.Imported,
                    folders = r.Report.Folders,
                    subscribed = r.Report.Subscribed,
                    problems = r.Report.Problems,
                }).ToList(),
                missingAccounts = missing,
                notMaildirs,
                complete,
            };
            context.Write(model, o =>
            {
                foreach (var (address, report) in reports)
                {
                    o.WriteLine($"{address} <- {report.Maildir}");
                    foreach (var f in report.Folders)
                    {
                        var uids = f.UidsKept ? "UIDs kept" : "new UIDs";
                        o.WriteLine(f.Skipped is null
                            ? $"  {f.Folder}: {Plural(f.Imported, "message")} imported, {f.AlreadyImported} already there, {f.Failed} failed (UIDVALIDITY {f.UidValidity}, {uids})"
                            : $"  {f.Folder}: skipped: {f.Skipped}");
                    }

                    o.WriteLine($"  subscriptions: {(report.Subscribed.Count == 0 ? "-" : string.Join(", ", report.Subscribed))}");
                    foreach (var p in report.Problems.Take(MaxProblemsShown))
                    {
                        o.WriteLine($"  problem: {p.Folder}: {p.File}: {p.Message}");
                    }

                    if (report.Problems.Count > MaxProblemsShown)
                    {
                        o.WriteLine($"  ... and {report.Problems.Count - MaxProblemsShown} more problems (--json lists them all)");
                    }
                }

                foreach (var m in missing)
                {
                    o.WriteLine($"no such account, not imported: {m}");
                }

                foreach (var n in notMaildirs)
                {
                    o.WriteLine($"not imported: {n}");
                }

                o.WriteLine($"{Plural(reports.Sum(r => r.Report.Imported), "message")} imported into {Plural(reports.Count, "account")}{(complete ? string.Empty : "; some mail was not imported (see above)")}");
            });
            return complete ? ExitCodes.Ok : ExitCodes.Refused;
        });
        command.Arguments.Add(path);
        command.Options.Add(account);
        command.Options.Add(tree);
        command.Options.Add(domain);
        command.Options.Add(renumber);
        return command;
    }

    private sealed record AccountImport(string Address, MaildirImportReport Report);
}
