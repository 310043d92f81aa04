namespace Postern.Core.Storage;

/// <summary>The store on disk was written by a newer Postern than this binary: start-up must stop.</summary>
public sealed class StoreSchemaTooNewException(string store, int found, int known)
    : Exception($"The {store} store has schema version {found}, but this build of Postern knows only up to {known}. Run a newer Postern or restore a backup made by this version.")
{
    public string Store { get; } = store;

    public int FoundVersion { get; } = found;

    public int KnownVersion { get; } = known;
}

/// <summary>A write would break a uniqueness rule (the same domain, address or name exists already).</summary>
public sealed class StoreConflictException(string message) : Exception(message);
