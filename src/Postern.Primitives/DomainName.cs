using System.Globalization;

namespace Postern.Primitives;

/// <summary>
/// A DNS host or mail domain name, validated and kept in both forms: <see cref="Ascii"/> (A-labels,
/// lower case; the comparison key and what is stored) and <see cref="Unicode"/> (U-labels, for display).
/// </summary>
public sealed class DomainName : IEquatable<DomainName>
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    private DomainName(string ascii, string unicode)
    {
        Ascii = ascii;
        Unicode = unicode;
    }

    /// <summary>The A-label form in lower case, without a trailing dot.</summary>
    public string Ascii { get; }

    /// <summary>The U-label form (NFC, lower case), without a trailing dot.</summary>
    public string Unicode { get; }

    public bool IsInternational => !string.Equals(Ascii, Unicode, StringComparison.Ordinal);

    public static bool TryParse(string? text, out DomainName? domain, out string? error)
    {
        domain = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "the domain is empty";
            return false;
        }

        var value = text.Trim();
        if (value.EndsWith('.'))
        {
            value = value[..^1];
        }

        if (value.Length == 0 || value.Length > 253 * 4)
        {
            error = $"'{text}' is not a valid domain name";
            return false;
        }

        if (value.StartsWith('[') || value.Contains(' ', StringComparison.Ordinal))
        {
            error = $"'{text}' is not a domain name (address literals are not accepted here)";
            return false;
        }

        string ascii;
        try
        {
            ascii = Idn.GetAscii(value.ToLowerInvariant()).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            error = $"'{text}' is not a valid domain name (IDNA)";
            return false;
        }

        if (ascii.Length > 253)
        {
            error = $"'{text}' is longer than 253 octets";
            return false;
        }

        var labels = ascii.Split('.');
        if (labels.Length < 2)
        {
            error = $"'{text}' needs at least two labels (e.g. example.com)";
            return false;
        }

        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                error = $"'{text}' has an invalid label '{label}'";
                return false;
            }

            foreach (var c in label)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
                {
                    error = $"'{text}' has an invalid character in label '{label}'";
                    return false;
                }
            }
        }

        if (labels[^1].All(char.IsAsciiDigit))
        {
            error = $"'{text}' has an all-numeric top-level label";
            return false;
        }

        string unicode;
        try
        {
            unicode = Idn.GetUnicode(ascii);
        }
        catch (ArgumentException)
        {
            error = $"'{text}' is not a valid domain name (IDNA)";
            return false;
        }

        domain = new DomainName(ascii, unicode);
        error = null;
        return true;
    }

    public static DomainName Parse(string text) =>
        TryParse(text, out var d, out var error) ? d! : throw new FormatException(error);

    public bool Equals(DomainName? other) => other is not null && string.Equals(Ascii, other.Ascii, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is DomainName other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Ascii);

    public override string ToString() => Unicode;
}
