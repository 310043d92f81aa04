using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Postern.Delivery.Tests.TlsPolicy.EndToEnd;

/// <summary>
/// An HTTPS server we did not write: Python's <c>http.server</c> with its <c>ssl</c> module (/usr/bin/python3,
/// listed in scripts/test-deps/tls-policy.txt), on 127.0.0.1 and a port it picks, with a certificate chain we
/// give it. What it answers is read from <c>response.json</c> on every request, so a test can change it between
/// requests; the paths requested are appended to <c>requests.log</c>.
/// </summary>
internal sealed class PythonPolicyServer : IAsyncDisposable
{
    private const string Script = """
        import http.server, json, os, ssl, sys
        folder = sys.argv[1]

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with open(os.path.join(folder, "requests.log"), "a") as log:
                    log.write(self.path + "\n")
                with open(os.path.join(folder, "response.json")) as f:
                    r = json.load(f)
                body = r.get("body", "").encode("utf-8")
                self.send_response(r.get("status", 200))
                if r.get("content_type"):
                    self.send_header("Content-Type", r["content_type"])
                if r.get("location"):
                    self.send_header("Location", r["location"])
                if r.get("omit_length"):
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(folder, "chain.pem"), os.path.join(folder, "key.pem"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print("PORT", server.server_address[1], flush=True)
        server.serve_forever()
        """;

    private readonly Process _process;
    private readonly DirectoryInfo _folder;

    private PythonPolicyServer(Process process, DirectoryInfo folder, int port)
    {
        _process = process;
        _folder = folder;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The paths requested so far.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            var path = Path.Combine(_folder.FullName, "requests.log");
            return File.Exists(path) ? File.ReadAllLines(path) : [];
        }
    }

    /// <summary>Starts the server with <paramref name="leaf"/> (and its private key) and the intermediates.</summary>
    public static async Task<PythonPolicyServer> StartAsync(X509Certificate2 leaf, params X509Certificate2[] intermediates)
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python))
        {
            throw new InvalidOperationException("/usr/bin/python3 not found: install the Debian package 'python3' (scripts/test-deps/tls-policy.txt).");
        }

        var folder = Directory.CreateTempSubdirectory("postern-mta-sts-e2e-");
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, "server.py"), Script);
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, "chain.pem"),
            string.Concat(new[] { leaf }.Concat(intermediates).Select(c => c.ExportCertificatePem() + "\n")));
        using (var key = leaf.GetECDsaPrivateKey() ?? throw new InvalidOperationException("leaf has no ECDSA key"))
        {
            await File.WriteAllTextAsync(Path.Combine(folder.FullName, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        }

        var info = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(folder.FullName, "server.py"));
        info.ArgumentList.Add(folder.FullName);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start python3");
        var stderr = process.StandardError.ReadToEndAsync();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (line is null || !line.StartsWith("PORT ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"python3 policy server did not start: {line} {await stderr}");
        }

        return new PythonPolicyServer(process, folder, int.Parse(line[5..], CultureInfo.InvariantCulture));
    }

    /// <summary>Sets what the server answers from now on.</summary>
    public Task RespondAsync(string body, string? contentType = "text/plain", int status = 200, string? location = null, bool omitLength = false) =>
        File.WriteAllTextAsync(Path.Combine(_folder.FullName, "response.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["status"] = status,
            ["body"] = body,
            ["content_type"] = contentType,
            ["location"] = location,
            ["omit_length"] = omitLength,
        }));

    /// <summary>Stops the server (by its pid); later connections are refused.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
