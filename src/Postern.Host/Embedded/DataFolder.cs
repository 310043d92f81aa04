namespace Postern.Host.Embedded;

/// <summary>The embedded mode's one folder: SQLite files, blobs, TLS material. Created with mode 0700.</summary>
public sealed class DataFolder
{
    private DataFolder(string root, bool created)
    {
        Root = root;
        Created = created;
    }

    public string Root { get; }

    /// <summary>True when this start created the folder (first start).</summary>
    public bool Created { get; }

    public string TlsFolder => Path.Combine(Root, "tls");

    public static DataFolder Prepare(string path)
    {
        var root = Path.GetFullPath(path);
        var created = !Directory.Exists(root);
        if (created)
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(root);
            }
            else
            {
                Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var folder = new DataFolder(root, created);
        foreach (var sub in new[] { folder.TlsFolder })
        {
            if (!Directory.Exists(sub))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(sub);
                }
                else
                {
                    Directory.CreateDirectory(sub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }
        }

        return folder;
    }
}
