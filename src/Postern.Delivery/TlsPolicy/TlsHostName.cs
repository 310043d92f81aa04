using Postern.Dns;

namespace Postern.Delivery.TlsPolicy;

/// <summary>Host names as the TLS policy code compares them: lower-case A-labels, no trailing dot.</summary>
internal static class TlsHostName
{
    /// <summary>Normalises a host name; a name that is not valid DNS is only trimmed and lower-cased.</summary>
    public static string Normalize(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return string.Empty;
        }

        var text = name.Trim();
        if (DnsName.TryNormalize(text, out var normalized, out _))
        {
            return normalized;
        }

        return text.TrimEnd('.').ToLowerInvariant();
    }

    /// <summary>True for a host name made of letters, digits, hyphens and underscores in non-empty labels.</summary>
    public static bool IsLdhName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        var labelLength = 0;
        foreach (var c in name)
        {
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return false;
                }

                labelLength = 0;
                continue;
            }

            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_') || ++labelLength > DnsName.MaxLabelLength)
            {
                return false;
            }
        }

        return labelLength > 0;
    }
}
