namespace Postern.Delivery.TlsPolicy;

/// <summary>
/// The TXT record at <c>_mta-sts.&lt;domain&gt;</c> (RFC 8461 §3.1): <c>v=STSv1; id=20160831085700Z;</c>. Only
/// the id matters: when it changes, the policy is fetched again.
/// </summary>
public sealed record MtaStsTxtRecord(string Id)
{
    /// <summary>The longest id allowed (1 to 32 letters and digits).</summary>
    public const int MaxIdLength = 32;

    /// <summary>True when the record text starts with <c>v=STSv1</c> and a semicolon or the end (RFC 8461 §3.1: other TXT records at the name are ignored).</summary>
    public static bool IsStsRecord(string text)
    {
        var t = text.AsSpan().TrimStart(" \t");
        if (!t.StartsWith("v=STSv1", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = t["v=STSv1".Length..].TrimStart(" \t");
        return rest.IsEmpty || rest[0] == ';';
    }

    /// <summary>
    /// Parses one record: <c>v=STSv1</c> first, then <c>;</c>-separated fields, one of which is <c>id=</c> with
    /// 1 to 32 letters and digits. Extension fields (<c>name=value</c>) are ignored; a field that is not
    /// <c>name=value</c> makes the record invalid. Never throws.
    /// </summary>
    public static bool TryParse(string? text, out MtaStsTxtRecord? record, out string? error)
    {
        record = null;
        error = null;
        if (text is null || !IsStsRecord(text))
        {
            error = "does not start with v=STSv1";
            return false;
        }

        string? id = null;
        var fields = text.Split(';');
        for (var i = 1; i < fields.Length; i++)
        {
            var field = fields[i].Trim(' ', '\t');
            if (field.Length == 0)
            {
                if (i == fields.Length - 1)
                {
                    break;
                }

                error = "empty field";
                return false;
            }

            var eq = field.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == field.Length - 1)
            {
                error = $"field '{MtaStsPolicyParser.Shorten(field)}' is not name=value";
                return false;
            }

            var name = field[..eq];
            var value = field[(eq + 1)..];
            if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') || name.Length > 32)
            {
                error = $"field name '{MtaStsPolicyParser.Shorten(name)}' is invalid";
                return false;
            }

            if (name != "id")
            {
                continue;
            }

            if (id is not null)
            {
                error = "id given twice";
                return false;
            }

            if (value.Length > MaxIdLength || !value.All(char.IsAsciiLetterOrDigit))
            {
                error = $"id '{MtaStsPolicyParser.Shorten(value)}' is not 1 to 32 letters and digits";
                return false;
            }

            id = value;
        }

        if (id is null)
        {
            error = "no id field";
            return false;
        }

        record = new MtaStsTxtRecord(id);
        return true;
    }
}
