using System.Text.Json;
using System.Text.Json.Serialization;
using Postern.Core.Tenants;
using Postern.Host.Configuration;
using Postern.Host.Embedded;
using Postern.Passwords;
using Postern.Primitives;
using Postern.Tenants;

namespace Postern.Host.Cli;

/// <summary>Process exit codes of the <c>postern</c> command line (documented in docs/cli.md).</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>An unexpected failure (a bug or an I/O error); the message says what.</summary>
    public const int Failure = 1;

    /// <summary>Bad configuration or bad command-line usage.</summary>
    public const int Usage = 2;

    /// <summary>The named object does not exist.</summary>
    public const int NotFound = 3;

    /// <summary>The change was refused (invalid input, duplicate, rule broken); nothing was changed.</summary>
    public const int Refused = 4;

    /// <summary>The store cannot be used (written by a newer version, unreadable).</summary>
    public const int StoreUnavailable = 5;
}

/// <summary>
/// What a command-line command works with: the configuration, the data folder's stores (opened the same
/// way as by a running server, safe beside it) and the directory services, plus output in human or JSON form.
/// </summary>
public sealed class CliContext : IDisposable
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private CliContext(LoadedConfiguration config, EmbeddedBackend storage, bool json, TextWriter output, TextWriter error)
    {
        Config = config;
        Storage = storage;
        Json = json;
        Out = output;
        Error = error;
        Hasher = new PasswordHasherAdapter(PasswordHasher.Default);
        Directory = new DirectoryService(storage.Directory, Hasher);
        Resolver = new RecipientResolver(storage.Directory, new RecipientResolverOptions
        {
            ChangePollInterval = TimeSpan.Zero,
            Postmaster = config.Options.Server.Postmaster is { } pm ? EmailAddress.Parse(pm) : null,
        });
    }

    public LoadedConfiguration Config { get; }

    public EmbeddedBackend Storage { get; }

    public IDirectoryStore Store => Storage.Directory;

    public DirectoryService Directory { get; }

    public RecipientResolver Resolver { get; }

    public IPasswordHasher Hasher { get; }

    /// <summary>True when <c>--json</c> was given: print one JSON document for scripts.</summary>
    public bool Json { get; }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public static CliContext Open(LoadedConfiguration config, bool json, TextWriter output, TextWriter error)
    {
        var folder = DataFolder.Prepare(config.DataFolder);
        var storage = EmbeddedBackend.Open(folder);
        return new CliContext(config, storage, json, output, error);
    }

    /// <summary>Prints <paramref name="model"/> as JSON with <c>--json</c>, else runs <paramref name="human"/>.</summary>
    public void Write(object model, Action<TextWriter> human)
    {
        if (Json)
        {
            Out.WriteLine(JsonSerializer.Serialize(model, model.GetType(), JsonOptions));
        }
        else
        {
            human(Out);
        }
    }

    public static string ToJson(object model) => JsonSerializer.Serialize(model, model.GetType(), JsonOptions);

    public void Dispose() => Storage.Dispose();
}
