using System.Diagnostics;
using System.Text;
using Postern.Delivery.Srs;

namespace Postern.Delivery.Tests.EndToEnd;

/// <summary>
/// Interoperability with Perl's Mail::SRS (Debian libmail-srs-perl, listed in scripts/test-deps/srs.txt), the
/// reference implementation that libsrs2 and postsrsd follow: with the same secret, each side reverses the
/// other's SRS0 and SRS1 addresses. Addresses go to Perl in the unquoted form Postfix hands to postsrsd.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MailSrsInteropTests
{
    private const string Secret = "interop-secret-Ünï";
    private const string PerlScript = """
        use strict;
        use warnings;
        use Mail::SRS;
        my ($sep, @secrets) = @ARGV;
        my $srs = Mail::SRS->new(Secret => [@secrets], MaxAge => 21, HashLength => 4, Separator => $sep);
        $| = 1;
        while (my $line = <STDIN>) {
            chomp $line;
            my ($op, $address, $alias) = split /\t/, $line, 3;
            my $result = eval { $op eq 'F' ? $srs->forward($address, $alias) : $srs->reverse($address) };
            if (defined $result) { print "OK\t$result\n"; }
            else { my $e = $@ || 'undef'; $e =~ s/\s+/ /g; print "ERR\t$e\n"; }
        }
        """;

    private static readonly string[] Senders =
    [
        "alice@example.org",
        "Bob.Smith+tag@Mail.Example.COM",
        "o'brien=x@example.net",
        "\"john doe\"@example.org",
        "\"a@b\"@example.org",
        "josé@example.org",
        "用户@xn--fiqs8s.example",
        "SRS0=ABCD=XY=example.org=bob@first.example",
        "SRS1=abcd=first.example==ABCD=XY=example.org=bob@second.example",
    ];

    [Theory]
    [InlineData('=')]
    [InlineData('+')]
    [InlineData('-')]
    public void Mail_SRS_reverses_our_addresses(char separator)
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = "fwd.example.net", Separator = separator }, new SrsKeyRing([Secret]));
        var lines = new List<string>();
        var expected = new List<string>();
        foreach (var sender in Senders)
        {
            var rewritten = ours.Forward(sender);
            Assert.True(rewritten.IsRewritten, sender);
            lines.Add("R\t" + Unquoted(rewritten.Address));
            lines.Add("R\t" + Unquoted(rewritten.Address).ToLowerInvariant());
            expected.Add(Unquoted(ours.Reverse(rewritten.Address).Address!));
            expected.Add(Unquoted(ours.Reverse(rewritten.Address.ToLowerInvariant()).Address!));
        }

        var answers = RunPerl(separator, [Secret], lines);
        for (var i = 0; i < lines.Count; i++)
        {
            Assert.Equal("OK\t" + expected[i], answers[i]);
        }
    }

    [Theory]
    [InlineData('=')]
    [InlineData('+')]
    [InlineData('-')]
    public void We_reverse_addresses_made_by_Mail_SRS(char separator)
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = "fwd.example.net" }, new SrsKeyRing(["some-newer-secret", Secret]));
        // Mail::SRS refuses a local part containing '@' ("Sender username may not contain an @").
        var senders = Senders.Where(s => !Unquoted(s)[..Unquoted(s).LastIndexOf('@')].Contains('@', StringComparison.Ordinal)).ToArray();
        var lines = senders.Select(s => "F\t" + Unquoted(s) + "\tfwd.example.net").ToList();
        var answers = RunPerl(separator, [Secret], lines);
        for (var i = 0; i < senders.Length; i++)
        {
            Assert.StartsWith("OK\t", answers[i], StringComparison.Ordinal);
            var made = answers[i][3..];
            Assert.StartsWith(senders[i].StartsWith("SRS", StringComparison.Ordinal) ? "SRS1" + separator : "SRS0" + separator, made, StringComparison.Ordinal);
            Assert.True(SrsAddressSyntax.TrySplit(made, out var local, out var domain));
            var result = ours.Reverse(SrsAddressSyntax.Join(local, domain));
            Assert.True(result.IsValid, $"{made}: {result.Reason}");

            var expected = senders[i] switch
            {
                var s when s.StartsWith("SRS0", StringComparison.Ordinal) => Unquoted(s),
                var s when s.StartsWith("SRS1", StringComparison.Ordinal) => "SRS0=ABCD=XY=example.org=bob@first.example",
                var s => Unquoted(s),
            };
            Assert.Equal(expected.ToLowerInvariant(), Unquoted(result.Address!).ToLowerInvariant());
            Assert.Equal(SrsReverseStatus.BadHash, new SrsRewriter(new SrsOptions { Domain = "fwd.example.net" }, new SrsKeyRing(["other"])).Reverse(SrsAddressSyntax.Join(local, domain)).Status);
        }
    }

    [Fact]
    public void Mail_SRS_and_we_agree_on_forged_addresses()
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = "fwd.example.net" }, new SrsKeyRing([Secret]));
        var good = Unquoted(ours.Forward("alice@example.org").Address);
        var forged = good.Replace("alice", "mallory", StringComparison.Ordinal);
        var answers = RunPerl('=', [Secret], ["R\t" + forged]);
        Assert.StartsWith("ERR\t", answers[0], StringComparison.Ordinal);
        Assert.Equal(SrsReverseStatus.BadHash, ours.Reverse(forged).Status);
    }

    private static string Unquoted(string address)
    {
        Assert.True(SrsAddressSyntax.TrySplit(address, out var local, out var domain), address);
        return local + "@" + domain;
    }

    private static List<string> RunPerl(char separator, string[] secrets, List<string> lines)
    {
        var perl = File.Exists("/usr/bin/perl") ? "/usr/bin/perl" : "perl";
        var script = Path.Combine(Path.GetTempPath(), "postern-srs-" + Guid.NewGuid().ToString("N") + ".pl");
        File.WriteAllText(script, PerlScript);
        try
        {
            var psi = new ProcessStartInfo(perl)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                StandardInputEncoding = new UTF8Encoding(false),
                StandardOutputEncoding = Encoding.UTF8,
            };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(separator.ToString());
            foreach (var s in secrets)
            {
                psi.ArgumentList.Add(s);
            }

            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            foreach (var line in lines)
            {
                process.StandardInput.Write(line + "\n");
            }

            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            var errors = stderr.Result;
            Assert.False(errors.Contains("Can't locate Mail/SRS.pm", StringComparison.Ordinal), "Mail::SRS is not installed: install the Debian package 'libmail-srs-perl' (listed in scripts/test-deps/srs.txt).");
            Assert.True(process.ExitCode == 0, "perl failed: " + errors);
            var answers = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            Assert.Equal(lines.Count, answers.Count);
            return answers;
        }
        finally
        {
            File.Delete(script);
        }
    }
}
