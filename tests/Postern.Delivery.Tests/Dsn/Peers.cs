using System.Diagnostics;
using System.Text;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>Programs we did not write, run on files in a temporary folder: Python's email package and npm mailparser.</summary>
internal static class Peers
{
    public const string Python = "/usr/bin/python3";

    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8 };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }

        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " did not finish");
        }

        return (p.ExitCode, output, err.Result);
    }

    /// <summary>Runs a Python script (from a string) with the given arguments; fails the test when it fails.</summary>
    public static string RunPython(string script, IEnumerable<string> args)
    {
        Assert.True(File.Exists(Python), "/usr/bin/python3 is needed (Debian python3, scripts/test-deps/dsn.txt)");
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "script.py");
        File.WriteAllText(path, script);
        var (code, output, err) = Run(Python, [path, .. args]);
        Assert.True(code == 0, "python failed: " + err);
        return output;
    }

    /// <summary>Installs mailparser with scripts/peers/mailparser.sh and runs a Node script (from a string) next to it.</summary>
    public static string RunMailparser(string script, IEnumerable<string> args)
    {
        var (whichCode, _, _) = Run("/bin/sh", ["-c", "command -v node && command -v npm"]);
        Assert.True(whichCode == 0, "node and npm are needed for mailparser (scripts/test-deps/dsn.txt: nodejs)");
        var (code, dirOut, err) = Run("/bin/bash", [Path.Combine(SharedCorpus.RepoRoot, "scripts", "peers", "mailparser.sh")]);
        Assert.True(code == 0, "scripts/peers/mailparser.sh failed: " + err);
        var dir = dirOut.Trim().Split('\n')[^1];
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "script.js");
        File.WriteAllText(path, script);
        var (nodeCode, output, nodeErr) = Run("node", [path, .. args], environment: new Dictionary<string, string> { ["NODE_PATH"] = Path.Combine(dir, "node_modules") });
        Assert.True(nodeCode == 0, "node failed: " + nodeErr);
        return output;
    }
}

/// <summary>A temporary folder, deleted at the end.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "postern-dsn-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, byte[] content)
    {
        var file = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(file, content);
        return file;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
