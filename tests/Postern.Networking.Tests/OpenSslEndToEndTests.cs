using System.Diagnostics;

namespace Postern.Networking.Tests;

/// <summary>A program we did not write, <c>openssl s_client</c>, against the implicit-TLS listener.</summary>
[Trait("Category", "EndToEnd")]
public sealed class OpenSslEndToEndTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Openssl_sees_the_certificate_chosen_by_sni_for_two_names()
    {
        using var store = new CertificateStore(
        [
            _folder.MakeCertificate("default.e2e.test", isDefault: true),
            _folder.MakeCertificate("alpha.e2e.test"),
            _folder.MakeCertificate("beta.e2e.test"),
        ]);
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.Implicit }, new EchoHandler(), store);
        var port = listener.EndPoints[0].Port;

        var alpha = await SClientAsync(port, "-servername", "alpha.e2e.test");
        Assert.True(alpha.ExitCode == 0, alpha.Output);
        Assert.Contains("subject=CN = alpha.e2e.test", alpha.Output);
        Assert.Contains("+OK ", alpha.Output);

        var beta = await SClientAsync(port, "-servername", "beta.e2e.test");
        Assert.True(beta.ExitCode == 0, beta.Output);
        Assert.Contains("subject=CN = beta.e2e.test", beta.Output);

        var none = await SClientAsync(port, "-noservername");
        Assert.Contains("subject=CN = default.e2e.test", none.Output);
    }

    [Fact]
    public async Task Openssl_connects_with_tls_1_2_and_1_3_and_is_refused_tls_1_1()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mx.e2e.test", isDefault: true)]);
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.Implicit }, new EchoHandler(), store);
        var port = listener.EndPoints[0].Port;

        var tls12 = await SClientAsync(port, "-servername", "mx.e2e.test", "-tls1_2");
        Assert.True(tls12.ExitCode == 0, tls12.Output);
        Assert.Contains("Protocol  : TLSv1.2", tls12.Output);

        var tls13 = await SClientAsync(port, "-servername", "mx.e2e.test", "-tls1_3");
        Assert.True(tls13.ExitCode == 0, tls13.Output);
        Assert.Contains("TLSv1.3", tls13.Output);

        // SECLEVEL=0 lets this OpenSSL offer TLS 1.1 at all; the server must still refuse it.
        var tls11 = await SClientAsync(port, "-servername", "mx.e2e.test", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0");
        Assert.NotEqual(0, tls11.ExitCode);
        Assert.DoesNotContain("+OK ", tls11.Output);
    }

    private static async Task<(int ExitCode, string Output)> SClientAsync(int port, params string[] extra)
    {
        var openssl = FindProgram("openssl")
            ?? throw new InvalidOperationException("openssl is not installed; install the Debian package 'openssl' (scripts/test-deps/networking.txt).");
        var start = new ProcessStartInfo(openssl)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "s_client", "-connect", $"127.0.0.1:{port}" }.Concat(extra))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var greeted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stdout = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }

                if (line.StartsWith("+OK ", StringComparison.Ordinal))
                {
                    greeted.TrySetResult();
                }
            }
        });
        var stderr = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            // Once the greeting arrived (or the handshake failed and s_client exited), closing stdin ends the session.
            await Task.WhenAny(greeted.Task, process.WaitForExitAsync(guard.Token)).WaitAsync(guard.Token);
            process.StandardInput.Close();
            await process.WaitForExitAsync(guard.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("openssl s_client did not finish");
        }

        await stdout;
        return (process.ExitCode, output + await stderr);
    }

    private static string? FindProgram(string name)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
