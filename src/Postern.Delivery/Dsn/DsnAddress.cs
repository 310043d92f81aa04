using System.Globalization;
using System.Text;

namespace Postern.Delivery.Dsn;

/// <summary>
/// The RFC 6533 §3 <c>utf-8</c> address type. Its two encoded forms escape characters as <c>\x{HEX}</c>
/// (EmbeddedUnicodeChar): controls, space, '\', '+' and '=' always; every non-ASCII character too in the 7-bit
/// <c>utf-8-addr-xtext</c> form (message/delivery-status, ORCPT without SMTPUTF8), while the
/// <c>utf-8-addr-unitext</c> form (message/global-delivery-status) keeps them as UTF-8.
/// </summary>
public static class DsnAddress
{
    /// <summary>The utf-8-addr-xtext form: ASCII only.</summary>
    public static string EncodeUtf8Xtext(string address) => Encode(address, keepNonAscii: false);

    /// <summary>The utf-8-addr-unitext form: non-ASCII characters kept as they are.</summary>
    public static string EncodeUtf8Unitext(string address) => Encode(address, keepNonAscii: true);

    /// <summary>Undoes both forms (and leaves a plain utf-8-address as it is). An escape that is not a valid code
    /// point stays as written. Never throws.</summary>
    public static string DecodeUtf8(string value)
    {
        if (!value.Contains("\\x{", StringComparison.Ordinal))
        {
            return value;
        }

        var sb = new StringBuilder(value.Length);
        var i = 0;
        while (i < value.Length)
        {
            if (value[i] == '\\' && i + 3 < value.Length && value[i + 1] is 'x' or 'X' && value[i + 2] == '{')
            {
                var close = value.IndexOf('}', i + 3);
                var digits = close < 0 ? 0 : close - (i + 3);
                if (digits is >= 1 and <= 6 && int.TryParse(value.AsSpan(i + 3, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp) &&
                    cp <= 0x10FFFF && cp is not (>= 0xD800 and <= 0xDFFF) && cp != 0)
                {
                    sb.Append(char.ConvertFromUtf32(cp));
                    i = close + 1;
                    continue;
                }
            }

            sb.Append(value[i]);
            i++;
        }

        return sb.ToString();
    }

    private static string Encode(string address, bool keepNonAscii)
    {
        var sb = new StringBuilder(address.Length + 8);
        foreach (var rune in address.EnumerateRunes())
        {
            var v = rune.Value;
            var plain = (v is >= 0x21 and <= 0x7E && v != '\\' && v != '+' && v != '=') || (keepNonAscii && v >= 0x80);
            if (plain)
            {
                sb.Append(rune.ToString());
            }
            else
            {
                sb.Append("\\x{").Append(v.ToString("X2", CultureInfo.InvariantCulture)).Append('}');
            }
        }

        return sb.ToString();
    }
}
