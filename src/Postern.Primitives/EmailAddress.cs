using System.Globalization;
using System.Text;

namespace Postern.Primitives;

/// <summary>
/// An addr-spec (<c>local@domain</c>) normalised for comparison: the local part in Unicode NFC
/// (SMTPUTF8 local parts are preserved), the domain as a <see cref="DomainName"/>.
/// Two addresses are equal when their <see cref="Key"/>s are equal: the local part folded with the
/// invariant culture (never the current one, so Turkish dotted/dotless i cannot confuse it) and the
/// domain's A-label form.
/// </summary>
public sealed class EmailAddress : IEquatable<EmailAddress>
{
    /// <summary>RFC 5321 §4.5.3.1.1: 64 octets for the local part.</summary>
    public const int MaxLocalPartBytes = 64;

    /// <summary>RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.</summary>
    public const int MaxAddressBytes = 254;

    private EmailAddress(string localPart, DomainName domain)
    {
        LocalPart = localPart;
        Domain = domain;
        LocalPartKey = FoldLocalPart(localPart);
        Key = LocalPartKey + "@" + domain.Ascii;
    }

    /// <summary>The local part as given, in NFC.</summary>
    public string LocalPart { get; }

    /// <summary>The local part folded for comparison.</summary>
    public string LocalPartKey { get; }

    public DomainName Domain { get; }

    /// <summary>The comparison key: folded local part, '@', the domain's A-labels.</summary>
    public string Key { get; }

    /// <summary>True when the local part has characters outside ASCII (needs SMTPUTF8).</summary>
    public bool IsInternationalLocalPart => !Ascii.IsValid(LocalPart);

    /// <summary>Parses <c>local@domain</c>; returns false and a reason naming what is wrong otherwise.</summary>
    public static bool TryParse(string? text, out EmailAddress? address, out string? error)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "the address is empty";
            return false;
        }

        var trimmed = text.Trim();
        var at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1)
        {
            error = $"'{trimmed}' is not of the form local-part@domain";
            return false;
        }

        var local = trimmed[..at];
        if (!TryNormalizeLocalPart(local, out var normalizedLocal, out error))
        {
            return false;
        }

        if (!DomainName.TryParse(trimmed[(at + 1)..], out var domain, out error))
        {
            return false;
        }

        var result = new EmailAddress(normalizedLocal!, domain!);
        if (Encoding.UTF8.GetByteCount(result.LocalPart) + 1 + result.Domain.Ascii.Length > MaxAddressBytes)
        {
            error = "the address is longer than 254 octets";
            return false;
        }

        address = result;
        error = null;
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> (for trusted input such as tests and configuration).</summary>
    public static EmailAddress Parse(string text) =>
        TryParse(text, out var a, out var error) ? a! : throw new FormatException(error);

    /// <summary>Builds an address from parts that were already validated.</summary>
    public static EmailAddress Create(string localPart, DomainName domain)
    {
        if (!TryNormalizeLocalPart(localPart, out var normalized, out var error))
        {
            throw new FormatException(error);
        }

        return new EmailAddress(normalized!, domain);
    }

    /// <summary>Validates a local part (dot-atom or the content of a quoted string, UTF-8 allowed).</summary>
    public static bool TryNormalizeLocalPart(string? localPart, out string? normalized, out string? error)
    {
        normalized = null;
        if (string.IsNullOrEmpty(localPart))
        {
            error = "the local part is empty";
            return false;
        }

        var value = localPart;
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1];
            if (value.Length == 0)
            {
                error = "the local part is empty";
                return false;
            }
        }

        try
        {
            if (!value.IsNormalized(NormalizationForm.FormC))
            {
                value = value.Normalize(NormalizationForm.FormC);
            }
        }
        catch (ArgumentException)
        {
            error = "the local part is not valid Unicode";
            return false;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c) || c == '@' || c == '<' || c == '>' || char.IsWhiteSpace(c) || c == ',' || c == ';' || c == '\\' || c == '"')
            {
                error = $"the local part '{value}' contains a character that is not allowed ('{Printable(c)}')";
                return false;
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                error = "the local part is not valid Unicode";
                return false;
            }
        }

        if (value[0] == '.' || value[^1] == '.' || value.Contains("..", StringComparison.Ordinal))
        {
            error = $"the local part '{value}' has a misplaced dot";
            return false;
        }

        if (Encoding.UTF8.GetByteCount(value) > MaxLocalPartBytes)
        {
            error = "the local part is longer than 64 octets";
            return false;
        }

        normalized = value;
        error = null;
        return true;
    }

    /// <summary>Folds a local part for comparison: NFC, then invariant lower case.</summary>
    public static string FoldLocalPart(string localPart)
    {
        var nfc = localPart.IsNormalized(NormalizationForm.FormC) ? localPart : localPart.Normalize(NormalizationForm.FormC);
        return nfc.ToLowerInvariant();
    }

    public bool Equals(EmailAddress? other) => other is not null && string.Equals(Key, other.Key, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is EmailAddress other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);

    /// <summary>The address with the domain in U-label form (for display).</summary>
    public override string ToString() => LocalPart + "@" + Domain.Unicode;

    /// <summary>The address with the domain in A-label form (for the wire without SMTPUTF8).</summary>
    public string ToAsciiDomainString() => LocalPart + "@" + Domain.Ascii;

    private static string Printable(char c) => char.IsControl(c) || char.IsWhiteSpace(c)
        ? "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture)
        : c.ToString();
}
