using System.Runtime.InteropServices;
using System.Text;

namespace Postern.Storage.Sqlite.Blobs;

/// <summary>
/// fsync(2) of a directory, so that a rename or a new entry in it survives a power loss. .NET cannot open a
/// directory as a file, so this calls open(2)/fsync(2)/close(2) in libc. Linux only: on other systems the
/// call does nothing (the embedded backend is supported on Linux; elsewhere it is for development).
/// </summary>
internal static class DirectorySync
{
    private const int OpenReadOnly = 0;
    private const int OpenCloseOnExec = 0x80000; // O_CLOEXEC on x86-64 and arm64

    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var path = Encoding.UTF8.GetBytes(directory + "\0");
        var fd = NativeMethods.open(path, OpenReadOnly | OpenCloseOnExec);
        if (fd < 0)
        {
            throw new IOException($"open({directory}) for fsync failed with errno {Marshal.GetLastPInvokeError()}.");
        }

        try
        {
            if (NativeMethods.fsync(fd) != 0)
            {
                throw new IOException($"fsync({directory}) failed with errno {Marshal.GetLastPInvokeError()}.");
            }
        }
        finally
        {
            _ = NativeMethods.close(fd);
        }
    }

    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code in this project; these signatures are blittable.
        [DllImport("libc", SetLastError = true)]
        public static extern int open(byte[] path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
#pragma warning restore SYSLIB1054
    }
}
