using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using Postern.Delivery.Srs;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary>
/// <c>postern srs show|rotate|add-secret</c>: the SRS secrets in the store (the first signs new addresses, all verify
/// bounces). A running server picks up a change within five minutes, or at once on SIGHUP.
/// </summary>
internal static class SrsCommands
{
    private const int MaxKeep = 20;

    public static Command Create(GlobalOptions globals) =>
        Group("srs", "The SRS secrets used for forwarded mail: show, rotate, add one", globals, Show(globals), Rotate(globals), AddSecret(globals));

    private static Command Show(GlobalOptions globals)
    {
        var reveal = new Option<bool>("--reveal") { Description = "Also print the secrets themselves (whoever has them can make addresses this server relays bounces to)" };
        var command = Leaf("show", "How many SRS secrets there are and which one signs (secrets only with --reveal)", globals, async (parse, context, ct) =>
        {
            var keys = await new SrsKeyProvider(context.Storage.Mail.KeyValue).GetAsync(ct).ConfigureAwait(false);
            Write(context, keys, parse.GetValue(reveal), action: null);
            return ExitCodes.Ok;
        });
        command.Options.Add(reveal);
        return command;
    }

    private static Command Rotate(GlobalOptions globals)
    {
        var keep = new Option<int>("--keep")
        {
            Description = "Earlier secrets kept for verifying bounces (default 1; with 0, bounces to addresses made before now are refused)",
            DefaultValueFactory = _ => 1,
        };
        var command = Leaf("rotate", "Make a new random signing secret, keeping the previous one(s) for bounces", globals, async (parse, context, ct) =>
        {
            var count = parse.GetValue(keep);
            if (count is < 0 or > MaxKeep)
            {
                throw new CliUsageException("keep", $"must be between 0 and {MaxKeep}");
            }

            var keys = await new SrsKeyProvider(context.Storage.Mail.KeyValue).RotateAsync(count, ct).ConfigureAwait(false);
            Write(context, keys, reveal: false, action: "rotated");
            return ExitCodes.Ok;
        });
        command.Options.Add(keep);
        return command;
    }

    private static Command AddSecret(GlobalOptions globals)
    {
        var secret = new Argument<string>("secret") { Description = "The secret (for example the contents of /etc/postsrsd.secret); '-' reads it from the first line of standard input" };
        var sign = new Option<bool>("--sign") { Description = "Sign new addresses with it (the current signer is kept for verifying); without it, it only verifies" };
        var command = Leaf("add-secret", "Add a secret, e.g. postsrsd's, so that bounces to addresses it made keep working", globals, async (parse, context, ct) =>
        {
            var text = parse.GetValue(secret)!;
            if (text == "-")
            {
                text = (CliPasswords.Input.ReadLine() ?? string.Empty).TrimEnd('\r');
            }

            text = text.Trim();
            if (text.Length == 0 || text.Any(char.IsControl))
            {
                throw new DirectoryValidationException("secret", "an SRS secret must be non-empty text without line breaks or control characters");
            }

            var keys = await new SrsKeyProvider(context.Storage.Mail.KeyValue).AddSecretAsync(text, parse.GetValue(sign), ct).ConfigureAwait(false);
            Write(context, keys, reveal: false, action: "added");
            return ExitCodes.Ok;
        });
        command.Arguments.Add(secret);
        command.Options.Add(sign);
        return command;
    }

    /// <summary>A short, one-way name for a secret, so that operators can tell secrets apart without seeing them.</summary>
    public static string Fingerprint(string secret) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)))[..12];

    private static void Write(CliContext context, SrsKeyRing? keys, bool reveal, string? action)
    {
        var smtp = context.Config.Options.Smtp;
        var secrets = keys?.Secrets ?? [];
        var model = new
        {
            action,
            enabled = smtp.Srs,
            domain = smtp.SrsDomain ?? context.Config.Hostname,
            count = secrets.Count,
            secrets = secrets.Select((s, i) => new
            {
                position = i + 1,
                role = i == 0 ? "signs" : "verifies",
                fingerprint = Fingerprint(s),
                secret = reveal ? s : null,
            }).ToList(),
        };
        context.Write(model, o =>
        {
            if (secrets.Count == 0)
            {
                o.WriteLine("No SRS secret yet: the server makes one at its first start (or run 'postern srs rotate').");
                return;
            }

            if (action is not null)
            {
                o.WriteLine($"SRS secrets {action}. A running server uses them within 5 minutes, or at once after SIGHUP (systemctl reload postern).");
            }

            o.WriteLine($"SRS: {(smtp.Srs ? "on" : "off (Smtp:Srs)")}, addresses in {model.domain}; {Plural(secrets.Count, "secret")}: the first signs new addresses, all verify bounces");
            foreach (var s in model.secrets)
            {
                o.WriteLine($"  {s.position}  {s.role,-8}  {s.fingerprint}{(s.secret is null ? string.Empty : "  " + s.secret)}");
            }
        });
    }
}
