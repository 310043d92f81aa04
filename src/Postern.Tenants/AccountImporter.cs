using System.Globalization;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants;

public sealed record ImportOptions(bool DryRun = false, bool Partial = false);

public sealed record ImportLineError(int Line, string Field, string Message)
{
    public override string ToString() => $"line {Line.ToString(CultureInfo.InvariantCulture)}: {Field}: {Message}";
}

public sealed record ImportResult(int Imported, int Valid, IReadOnlyList<ImportLineError> Errors, bool DryRun)
{
    public bool HasErrors => Errors.Count > 0;
}

/// <summary>
/// Bulk creation of accounts from CSV: columns <c>email,password,name,quota</c> (quota in MB; a header
/// row naming the columns is optional and may order them differently). The password column holds a
/// password or an existing hash in a scheme this build verifies (<c>{SHA512-CRYPT}$6$...</c>, <c>$2y$...</c>).
/// By default nothing is imported if any line is bad; with <see cref="ImportOptions.Partial"/> the good
/// lines are. Every error names its line.
/// </summary>
public sealed class AccountImporter(IDirectoryStore store, IPasswordHasher hasher, DirectoryServiceOptions? options = null)
{
    private readonly int _minimumPasswordLength = (options ?? new DirectoryServiceOptions()).MinimumPasswordLength;

    private static readonly string[] Columns = ["email", "password", "name", "quota"];

    public async Task<ImportResult> ImportAsync(TextReader csv, ImportOptions importOptions, CancellationToken cancellationToken = default)
    {
        var errors = new List<ImportLineError>();
        var accepted = new List<NewAccount>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var domains = new Dictionary<string, MailDomain?>(StringComparer.Ordinal);
        int[] order = [0, 1, 2, 3];
        var first = true;

        foreach (var record in Csv.Read(csv))
        {
            if (record.Error is not null)
            {
                errors.Add(new ImportLineError(record.Line, "csv", record.Error));
                continue;
            }

            if (first)
            {
                first = false;
                if (TryReadHeader(record.Fields, out var headerOrder, out var headerError))
                {
                    if (headerError is not null)
                    {
                        errors.Add(new ImportLineError(record.Line, "header", headerError));
                        return new ImportResult(0, 0, errors, importOptions.DryRun);
                    }

                    order = headerOrder!;
                    continue;
                }
            }

            if (record.Fields.Count != 4)
            {
                errors.Add(new ImportLineError(record.Line, "csv", $"expected 4 columns (email, password, name, quota), found {record.Fields.Count}"));
                continue;
            }

            var email = record.Fields[order[0]].Trim();
            var password = record.Fields[order[1]];
            var name = record.Fields[order[2]].Trim();
            var quotaText = record.Fields[order[3]].Trim();

            if (!EmailAddress.TryParse(email, out var address, out var addressError))
            {
                errors.Add(new ImportLineError(record.Line, "email", addressError!));
                continue;
            }

            if (seen.TryGetValue(address!.Key, out var earlier))
            {
                errors.Add(new ImportLineError(record.Line, "email", $"'{address}' appears already on line {earlier.ToString(CultureInfo.InvariantCulture)}"));
                continue;
            }

            seen[address.Key] = record.Line;

            if (!domains.TryGetValue(address.Domain.Ascii, out var domain))
            {
                domain = await store.FindDomainAsync(address.Domain.Ascii, cancellationToken).ConfigureAwait(false);
                domains[address.Domain.Ascii] = domain;
            }

            if (domain is null)
            {
                errors.Add(new ImportLineError(record.Line, "email", $"there is no domain '{address.Domain}'"));
                continue;
            }

            if (!domain.IsHosted)
            {
                errors.Add(new ImportLineError(record.Line, "email", $"'{domain.Name}' is a relay domain"));
                continue;
            }

            if (!string.Equals(domain.Name.Ascii, address.Domain.Ascii, StringComparison.Ordinal))
            {
                errors.Add(new ImportLineError(record.Line, "email", $"'{address.Domain}' is a domain alias of '{domain.Name}'"));
                continue;
            }

            if (await store.FindAddressAsync(domain.Id, address.LocalPartKey, cancellationToken).ConfigureAwait(false) is not null)
            {
                errors.Add(new ImportLineError(record.Line, "email", $"'{address}' exists already"));
                continue;
            }

            long quotaMb = 0;
            if (quotaText.Length > 0 && !long.TryParse(quotaText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out quotaMb))
            {
                errors.Add(new ImportLineError(record.Line, "quota", $"'{quotaText}' is not a whole number of MB"));
                continue;
            }

            long quotaBytes;
            try
            {
                quotaBytes = DirectoryService.QuotaBytes(quotaMb);
            }
            catch (DirectoryValidationException e)
            {
                errors.Add(new ImportLineError(record.Line, e.Field, e.Message));
                continue;
            }

            string hash;
            if (LooksLikeHash(password.Trim()))
            {
                // A stored hash: surrounding spaces are CSV padding, never part of the hash.
                var trimmedHash = password.Trim();
                if (!hasher.IsWellFormed(trimmedHash, out var hashError))
                {
                    errors.Add(new ImportLineError(record.Line, "password", $"not a usable password hash: {hashError}"));
                    continue;
                }

                hash = trimmedHash;
            }
            else
            {
                try
                {
                    DirectoryService.ValidatePassword(password, _minimumPasswordLength);
                }
                catch (DirectoryValidationException e)
                {
                    errors.Add(new ImportLineError(record.Line, "password", e.Message));
                    continue;
                }

                hash = importOptions.DryRun ? string.Empty : hasher.Hash(password);
            }

            accepted.Add(new NewAccount(domain.Id, address.LocalPart, name, hash, quotaBytes));
        }

        if (importOptions.DryRun || (errors.Count > 0 && !importOptions.Partial) || accepted.Count == 0)
        {
            return new ImportResult(0, accepted.Count, errors, importOptions.DryRun);
        }

        var imported = await store.AddAccountsAsync(accepted, cancellationToken).ConfigureAwait(false);
        return new ImportResult(imported, accepted.Count, errors, false);
    }

    /// <summary>A stored-hash value rather than a password: a Dovecot <c>{SCHEME}</c> prefix or a crypt/PHC <c>$id$</c> form.</summary>
    public static bool LooksLikeHash(string value) =>
        (value.StartsWith('{') && value.IndexOf('}', StringComparison.Ordinal) > 1) ||
        (value.StartsWith('$') && value.Count(c => c == '$') >= 3);

    private static bool TryReadHeader(IReadOnlyList<string> fields, out int[]? order, out string? error)
    {
        order = null;
        error = null;
        var names = fields.Select(f => f.Trim().ToLowerInvariant()).ToList();
        if (!names.Contains("email"))
        {
            return false;
        }

        if (names.Count != 4)
        {
            error = $"the header must name the 4 columns {string.Join(", ", Columns)}";
            return true;
        }

        order = new int[4];
        for (var i = 0; i < Columns.Length; i++)
        {
            var at = names.IndexOf(Columns[i]);
            if (at < 0)
            {
                error = $"the header lacks the column '{Columns[i]}' (columns: {string.Join(", ", Columns)})";
                return true;
            }

            order[i] = at;
        }

        return true;
    }
}
