namespace Postern.Tenants;

/// <summary>A directory change was refused: <see cref="Field"/> names the input that is wrong. Nothing was changed.</summary>
public sealed class DirectoryValidationException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>The named object does not exist (or is not visible to the caller).</summary>
public sealed class DirectoryObjectNotFoundException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
