using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Security.Cryptography;

namespace Postern.Host.Cli;

/// <summary>Builds directory commands whose parse errors, like every other bad input, end in a field-named message and a documented exit code.</summary>
internal static class CliCommandBuilder
{
    /// <summary>A command that opens the data folder and runs <paramref name="run"/>.</summary>
    public static Command Leaf(string name, string description, GlobalOptions globals, Func<ParseResult, CliContext, CancellationToken, Task<int>> run)
    {
        var command = new Command(name, description);
        command.Action = new DirectoryAction(globals, run);
        return command;
    }

    /// <summary>A command that only groups subcommands: used alone it says which subcommands exist (exit 2).</summary>
    public static Command Group(string name, string description, GlobalOptions globals, params Command[] subcommands)
    {
        var command = new Command(name, description);
        foreach (var sub in subcommands)
        {
            command.Subcommands.Add(sub);
        }

        command.Action = new DirectoryAction(globals, (parse, _, _) =>
            throw new CliUsageException("command", $"'{name}' needs a subcommand: {string.Join(", ", subcommands.Select(s => s.Name))} (see --help)"));
        return command;
    }

    /// <summary>A string option limited to the named choices (checked by the command, so a wrong value exits 2 naming the option).</summary>
    public static Option<string?> Choice(string name, string description, params string[] choices) => new(name)
    {
        Description = description,
        CompletionSources = { choices },
    };

    public static string? CheckChoice(ParseResult parse, Option<string?> option, params string[] choices)
    {
        var value = parse.GetValue(option)?.Trim();
        if (value is null)
        {
            return null;
        }

        var match = choices.FirstOrDefault(c => c.Equals(value, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new CliUsageException(option.Name.TrimStart('-'), $"'{value}' is not one of {string.Join(", ", choices)}");
    }

    /// <summary>Throws the usage error for a command that changes or removes things without <c>--yes</c>.</summary>
    public static CliUsageException NeedsYes(string whatWouldBeRemoved) =>
        new("yes", $"{whatWouldBeRemoved}. Nothing was removed: run the command again with --yes to confirm");

    public static string Plural(long count, string noun, string? plural = null) =>
        count.ToString(CultureInfo.InvariantCulture) + " " + (count == 1 ? noun : plural ?? noun + "s");

    private sealed class DirectoryAction(GlobalOptions globals, Func<ParseResult, CliContext, CancellationToken, Task<int>> run) : AsynchronousCommandLineAction
    {
        /// <summary>Parse errors are reported by this action (exit 2, JSON with --json) instead of the parser's default (exit 1).</summary>
        public override bool ClearsParseErrors => true;

        public override Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            var problems = parseResult.Errors.Select(e => e.Message.StartsWith("Response file not found", StringComparison.Ordinal)
                    ? $"{e.Message} (a word starting with '@' names a response file; write a catch-all alias as '*@domain')"
                    : e.Message)
                .Concat(parseResult.UnmatchedTokens.Select(t => $"unrecognized command or argument '{t}'"))
                .ToList();
            if (problems.Count > 0)
            {
                var json = SafeJson(parseResult);
                var error = parseResult.InvocationConfiguration.Error;
                var message = string.Join("; ", problems);
                error.WriteLine(json
                    ? CliContext.ToJson(new { error = message, field = "usage", exitCode = ExitCodes.Usage })
                    : $"postern: usage: {message} (see '{CommandPath(parseResult)} --help')");
                return Task.FromResult(ExitCodes.Usage);
            }

            return globals.RunAsync(parseResult, (context, ct) => run(parseResult, context, ct), cancellationToken);
        }

        private bool SafeJson(ParseResult parse)
        {
            try
            {
                return parse.GetValue(globals.Json);
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }

        private static string CommandPath(ParseResult parse)
        {
            var names = new List<string>();
            for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            {
                names.Add(result.Command is RootCommand ? "postern" : result.Command.Name);
            }

            names.Reverse();
            return string.Join(' ', names);
        }
    }
}

/// <summary>Password input and generated passwords for <c>--password</c>, <c>--password-stdin</c> or neither.</summary>
internal static class CliPasswords
{
    private const string Alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    private static readonly AsyncLocal<TextReader?> InputOverride = new();

    /// <summary>Where <c>--password-stdin</c> reads (standard input unless a test redirected it).</summary>
    public static TextReader Input => InputOverride.Value ?? Console.In;

    /// <summary>Makes <c>--password-stdin</c> read <paramref name="reader"/> in this async flow (tests).</summary>
    public static IDisposable RedirectInput(TextReader reader)
    {
        var previous = InputOverride.Value;
        InputOverride.Value = reader;
        return new Restore(() => InputOverride.Value = previous);
    }

    public static Option<string?> PasswordOption() => new("--password")
    {
        Description = "The password (visible to other users of this machine in the process list: prefer --password-stdin)",
    };

    public static Option<bool> PasswordStdinOption() => new("--password-stdin")
    {
        Description = "Read the password from the first line of standard input",
    };

    /// <summary>The password given, or a generated one (Generated = true: print it once).</summary>
    public static (string Password, bool Generated) Get(ParseResult parse, Option<string?> password, Option<bool> stdin)
    {
        var given = parse.GetValue(password);
        var fromStdin = parse.GetValue(stdin);
        if (given is not null && fromStdin)
        {
            throw new CliUsageException("password", "give --password or --password-stdin, not both");
        }

        if (fromStdin)
        {
            var line = Input.ReadLine() ?? string.Empty;
            return (line.TrimEnd('\r'), false);
        }

        return given is not null ? (given, false) : (Generate(), true);
    }

    public static string Generate(int length = 20) => new(RandomNumberGenerator.GetItems<char>(Alphabet, length));

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
