using System.Diagnostics;
using System.Text;

namespace Postern.Host.Tests;

/// <summary>The real <c>postern</c> binary run as a separate process (for exit codes, signals and the banner).</summary>
internal sealed class PosternProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PosternProcess(Process process)
    {
        _process = process;
    }

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "postern.dll");

    public static PosternProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment = null, string? launcher = null, IEnumerable<string>? launcherArgs = null)
    {
        var info = new ProcessStartInfo(launcher ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (launcher is not null)
        {
            foreach (var a in launcherArgs ?? [])
            {
                info.ArgumentList.Add(a);
            }

            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(DllPath);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("POSTERN__", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";

        // Tests run in parallel: every listener this build serves binds a free port unless a test says otherwise.
        foreach (var listener in new[] { "SMTP", "SUBMISSION", "SUBMISSIONS", "LMTP", "IMAP", "IMAPS", "HTTPS" })
        {
            info.Environment[$"POSTERN__LISTENERS__{listener}__PORT"] = "0";
        }

        // Queued mail stays queued unless a test switches delivery on (--set Delivery:Enabled=true) and points it
        // at peers on loopback: a test never sends mail, or asks DNS, outside this machine.
        info.Environment["POSTERN__DELIVERY__ENABLED"] = "false";

        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                info.Environment[k] = v;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var wrapper = new PosternProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (wrapper._stdout)
            {
                wrapper._stdout.AppendLine(e.Data);
            }

            if (e.Data.StartsWith("ready in ", StringComparison.Ordinal))
            {
                wrapper._ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (wrapper._stderr)
                {
                    wrapper._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var p = Start(args);
        var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, p.Stdout, p.Stderr);
    }

    public int Id => _process.Id;

    /// <summary>Writes <paramref name="text"/> to the process's standard input and closes it.</summary>
    public void WriteStdinAndClose(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Close();
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Waits for the banner's last line; fails with the output if the process exits first.</summary>
    public async Task WaitReadyAsync()
    {
        var exited = _process.WaitForExitAsync();
        var done = await Task.WhenAny(_ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != _ready.Task)
        {
            throw new Xunit.Sdk.XunitException($"postern did not become ready.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
    }

    /// <summary>The port a listener reported in the banner.</summary>
    public int ListenerPort(string name)
    {
        var line = Stdout.Split('\n').First(l => l.StartsWith($"listener {name} ", StringComparison.Ordinal));
        var endpoint = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        return int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException("kill failed");
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"postern did not exit within {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }

        _process.WaitForExit(); // drain the output events
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
#pragma warning disable SYSLIB1054 // a test helper: DllImport keeps the project free of unsafe code
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}

internal static class Signals
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    /// <summary>Cannot be caught: the crash-safety tests use it to stop the server at a random instant.</summary>
    public const int SIGKILL = 9;
}

/// <summary>A temporary data folder deleted after the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "postern-host-" + Guid.NewGuid().ToString("N"));

    public string Path { get; }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
