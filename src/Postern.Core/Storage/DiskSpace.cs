namespace Postern.Core.Storage;

/// <summary>Tells how many bytes are free for a path. Injected so tests can simulate a full disk.</summary>
public interface IDiskSpaceProbe
{
    long GetAvailableBytes(string path);
}

/// <summary>The real probe: <see cref="DriveInfo.AvailableFreeSpace"/> of the file system holding the path.</summary>
public sealed class DriveInfoDiskSpaceProbe : IDiskSpaceProbe
{
    public static DriveInfoDiskSpaceProbe Instance { get; } = new();

    public long GetAvailableBytes(string path) => new DriveInfo(System.IO.Path.GetFullPath(path)).AvailableFreeSpace;
}

/// <summary>
/// The floor check the services and the blob store share: below <see cref="FloorBytes"/> free, new mail is
/// refused with a temporary error. The guard only measures; the floor itself is configuration.
/// </summary>
public sealed class DiskSpaceGuard(IDiskSpaceProbe probe, string path, long floorBytes)
{
    public string Path { get; } = path;

    public long FloorBytes { get; } = floorBytes;

    public long AvailableBytes => probe.GetAvailableBytes(Path);

    /// <summary>True when writing <paramref name="incomingBytes"/> more would still leave the floor free.</summary>
    public bool HasRoomFor(long incomingBytes = 0) => AvailableBytes - incomingBytes >= FloorBytes;

    /// <summary>Throws <see cref="StoreFullException"/> when <see cref="HasRoomFor"/> is false.</summary>
    public void EnsureRoomFor(long incomingBytes = 0)
    {
        var available = AvailableBytes;
        if (available - incomingBytes < FloorBytes)
        {
            throw new StoreFullException(Path, available, FloorBytes);
        }
    }
}
