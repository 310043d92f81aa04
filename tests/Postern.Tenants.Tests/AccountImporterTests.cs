using FsCheck;
using FsCheck.Fluent;

namespace Postern.Tenants.Tests;

public sealed class AccountImporterTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    private Task<ImportResult> Import(string csv, bool dryRun = false, bool partial = false) =>
        new AccountImporter(_d.Store, new TestHasher(), TestDirectory.Lenient).ImportAsync(new StringReader(csv), new ImportOptions(dryRun, partial));

    [Fact]
    public async Task Imports_passwords_and_existing_hashes_with_or_without_a_header()
    {
        await _d.HostedDomainAsync();
        var result = await Import("""
            quota,email,name,password
            10,a@example.com,"Smith, Ann",secret
            ,b@example.com,Bob,$6$salt$abcdef
            """);
        Assert.Empty(result.Errors);
        Assert.Equal(2, result.Imported);
        var (a, _) = await _d.Service.RequireAccountAsync("a@example.com");
        Assert.Equal(("Smith, Ann", 10L * 1024 * 1024, "{TEST}secret"), (a.DisplayName, a.QuotaBytes, a.PasswordHash));
        var (b, _) = await _d.Service.RequireAccountAsync("b@example.com");
        Assert.Equal("$6$salt$abcdef", b.PasswordHash);

        var noHeader = await Import("c@example.com,pw,Carl,0\n");
        Assert.Equal(1, noHeader.Imported);
    }

    [Fact]
    public async Task Errors_name_their_lines_and_by_default_nothing_is_imported()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("taken@example.com", "pw", null, 0);
        var csv = "email,password,name,quota\n" +
                  "good@example.com,pw,Good,1\n" +           // line 2
                  "bad-address,pw,X,1\n" +                   // line 3
                  "x@example.com,pw,X\n" +                   // line 4: 3 columns
                  "y@example.com,\"pw,X,1\n" +               // line 5: broken quote (swallows the rest)
                  "";
        var result = await Import(csv);
        Assert.Equal(0, result.Imported);
        Assert.Equal([3, 4, 5], result.Errors.Select(e => e.Line));
        Assert.Equal("email", result.Errors[0].Field);
        Assert.Contains("4 columns", result.Errors[1].Message, StringComparison.Ordinal);
        Assert.Contains("quoted field is not closed", result.Errors[2].Message, StringComparison.Ordinal);
        Assert.Null(await _d.Store.FindAddressAsync((await _d.Service.RequireDomainAsync("example.com")).Id, "good", default));

        var more = await Import("email,password,name,quota\ntaken@example.com,pw,,0\nq@example.com,pw,,-5\nz@nowhere.test,pw,,0\nh@example.com,{NOPE}xx,,0\nd@example.com,pw,,0\nD@example.com,pw,,0\n");
        Assert.Equal([2, 3, 4, 5, 7], more.Errors.Select(e => e.Line));
        Assert.Equal(["email", "quota", "email", "password", "email"], more.Errors.Select(e => e.Field));
        Assert.Contains("line 6", more.Errors[4].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Partial_imports_the_good_lines_and_dry_run_imports_nothing()
    {
        await _d.HostedDomainAsync();
        var csv = "one@example.com,pw,One,0\nbroken\ntwo@example.com,pw,Two,0\n";
        var dry = await Import(csv, dryRun: true);
        Assert.Equal((0, 2, 1), (dry.Imported, dry.Valid, dry.Errors.Count));
        Assert.Equal(0, (await _d.Store.CountAsync(default)).Accounts);

        var partial = await Import(csv, partial: true);
        Assert.Equal(2, partial.Imported);
        Assert.Equal(2, Assert.Single(partial.Errors).Line);
        Assert.Equal(2, (await _d.Store.CountAsync(default)).Accounts);
    }

    [Fact]
    public void Csv_reader_handles_quotes_escapes_and_line_breaks_inside_quotes()
    {
        var records = Csv.Read(new StringReader("a,\"b \"\"q\"\" c\",\"multi\nline\"\r\nx,,\"\"\n")).ToList();
        Assert.Equal(2, records.Count);
        Assert.Equal(["a", "b \"q\" c", "multi\nline"], records[0].Fields);
        Assert.Equal(3, records[1].Line);
        Assert.Equal(["x", "", ""], records[1].Fields);
    }

    [Fact]
    public void Csv_reader_is_total_on_random_input()
    {
        var alphabet = Gen.Elements('a', ',', '"', '\n', '\r', ' ', 'é', '\0');
        var input = Gen.ArrayOf(alphabet).Select(cs => new string(cs));
        Check.QuickThrowOnFailure(Prop.ForAll(input.ToArbitrary(), text =>
        {
            var records = Csv.Read(new StringReader(text)).ToList();
            return records.All(r => r.Line >= 1 && r.Fields.Count <= Csv.MaxFields + 1);
        }));
    }
}
