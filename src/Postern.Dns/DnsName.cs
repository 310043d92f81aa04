using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Dns;

/// <summary>
/// Domain names in presentation form: ASCII, labels separated by dots, no trailing dot, the root written ".".
/// Bytes that are not printable ASCII (and a dot or backslash inside a label) are written as <c>\DDD</c> or <c>\X</c>
/// escapes, as in zone files. Comparison is ASCII case-insensitive.
/// </summary>
public static class DnsName
{
    /// <summary>Maximum length of a name on the wire, including length bytes and the root label.</summary>
    public const int MaxWireLength = 255;

    /// <summary>Maximum length of one label.</summary>
    public const int MaxLabelLength = 63;

    /// <summary>The root name.</summary>
    public const string Root = ".";

    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>
    /// Turns a name typed by a user or read from mail (U-labels allowed, any case, optional trailing dot)
    /// into the lower-case ASCII presentation form used on the wire. Never throws.
    /// </summary>
    public static bool TryNormalize(string? name, out string normalized, out string? error)
    {
        normalized = string.Empty;
        error = null;
        if (name is null)
        {
            error = "name is null";
            return false;
        }

        // IDNA separators (RFC 3490 §3.1) count as dots.
        var text = name.Replace('\u3002', '.').Replace('\uFF0E', '.').Replace('\uFF61', '.');
        if (text.Length > 1024)
        {
            error = "name too long";
            return false;
        }

        if (text is "." or "")
        {
            if (text.Length == 0)
            {
                error = "empty name";
                return false;
            }

            normalized = Root;
            return true;
        }

        if (text.EndsWith('.') && !text.EndsWith("\\.", StringComparison.Ordinal))
        {
            text = text[..^1];
        }

        var labels = SplitPresentation(text);
        if (labels is null)
        {
            error = "empty label in name";
            return false;
        }

        var sb = new StringBuilder(text.Length);
        foreach (var rawLabel in labels)
        {
            var label = rawLabel;
            if (label.Length == 0)
            {
                error = "empty label in name";
                return false;
            }

            var ascii = true;
            foreach (var c in label)
            {
                if (c > 0x7E)
                {
                    ascii = false;
                }
                else if (c <= 0x20)
                {
                    error = "name contains a space or control character";
                    return false;
                }
            }

            if (!ascii)
            {
                try
                {
                    label = Idn.GetAscii(label);
                }
                catch (ArgumentException)
                {
                    error = $"label '{rawLabel}' is not a valid internationalised label";
                    return false;
                }
            }

            if (sb.Length > 0)
            {
                sb.Append('.');
            }

            sb.Append(label.ToLowerInvariant());
        }

        var candidate = sb.ToString();
        if (!TryGetLabels(candidate, out _, out error))
        {
            return false;
        }

        normalized = candidate;
        return true;
    }

    /// <summary>Case-insensitive comparison of two presentation names, ignoring a trailing dot.</summary>
    public static bool NameEquals(string? a, string? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        return string.Equals(TrimDot(a), TrimDot(b), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The name used to look up PTR records for an address (in-addr.arpa or ip6.arpa).</summary>
    public static string ReverseName(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        var sb = new StringBuilder();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            for (var i = bytes.Length - 1; i >= 0; i--)
            {
                sb.Append(bytes[i].ToString(CultureInfo.InvariantCulture)).Append('.');
            }

            return sb.Append("in-addr.arpa").ToString();
        }

        const string hex = "0123456789abcdef";
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            sb.Append(hex[bytes[i] & 0xF]).Append('.').Append(hex[bytes[i] >> 4]).Append('.');
        }

        return sb.Append("ip6.arpa").ToString();
    }

    /// <summary>The owner name of TLSA records for a service (RFC 6698 §3): <c>_port._protocol.host</c>.</summary>
    public static string TlsaName(string host, int port, string protocol = "tcp") =>
        string.Create(CultureInfo.InvariantCulture, $"_{port}._{protocol}.{TrimDot(host)}");

    internal static string TrimDot(string name) =>
        name.Length > 1 && name.EndsWith('.') && !name.EndsWith("\\.", StringComparison.Ordinal) ? name[..^1] : name;

    /// <summary>Splits presentation text on unescaped dots; null when a label is empty.</summary>
    private static List<string>? SplitPresentation(string text)
    {
        var result = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
                continue;
            }

            if (text[i] == '.')
            {
                if (i == start)
                {
                    return null;
                }

                result.Add(text[start..i]);
                start = i + 1;
            }
        }

        if (start >= text.Length)
        {
            return null;
        }

        result.Add(text[start..]);
        return result;
    }

    /// <summary>Converts ASCII presentation form (with escapes) into wire labels, checking the length limits.</summary>
    internal static bool TryGetLabels(string name, out List<byte[]> labels, out string? error)
    {
        labels = [];
        error = null;
        if (name is Root or "")
        {
            return true;
        }

        var text = TrimDot(name);
        var current = new List<byte>(MaxLabelLength + 1);
        var wire = 1;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == '.')
            {
                if (current.Count == 0)
                {
                    error = "empty label in name";
                    return false;
                }

                if (current.Count > MaxLabelLength)
                {
                    error = $"label longer than {MaxLabelLength} bytes";
                    return false;
                }

                wire += current.Count + 1;
                if (wire > MaxWireLength)
                {
                    error = $"name longer than {MaxWireLength} bytes";
                    return false;
                }

                labels.Add([.. current]);
                current.Clear();
                continue;
            }

            var c = text[i];
            if (c == '\\')
            {
                if (i + 3 < text.Length && char.IsAsciiDigit(text[i + 1]) && char.IsAsciiDigit(text[i + 2])
                    && char.IsAsciiDigit(text[i + 3]))
                {
                    var value = ((text[i + 1] - '0') * 100) + ((text[i + 2] - '0') * 10) + (text[i + 3] - '0');
                    if (value > 255)
                    {
                        error = "escape \\DDD out of range";
                        return false;
                    }

                    current.Add((byte)value);
                    i += 3;
                    continue;
                }

                if (i + 1 < text.Length && text[i + 1] <= 0x7E && !char.IsAsciiDigit(text[i + 1]))
                {
                    current.Add((byte)text[i + 1]);
                    i++;
                    continue;
                }

                error = "bad escape in name";
                return false;
            }

            if (c > 0x7E || c <= 0x20)
            {
                error = "name contains a character that is not printable ASCII";
                return false;
            }

            current.Add((byte)c);
        }

        return true;
    }

    /// <summary>Appends one wire label in presentation form.</summary>
    internal static void AppendLabel(StringBuilder sb, ReadOnlySpan<byte> label)
    {
        foreach (var b in label)
        {
            if (b is (byte)'.' or (byte)'\\')
            {
                sb.Append('\\').Append((char)b);
            }
            else if (b is <= 0x20 or > 0x7E)
            {
                sb.Append('\\').Append(b.ToString("D3", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append((char)b);
            }
        }
    }
}
