using System.Globalization;

namespace Postern.Protocols.Imap;

/// <summary>
/// IMAP's date-time (<c>"17-Jul-1996 02:44:25 -0700"</c>, APPEND and INTERNALDATE) and date
/// (<c>1-Feb-1994</c>, SEARCH BEFORE/ON/SINCE/SENT*), RFC 9051 §9. Months are English and case-insensitive.
/// </summary>
public static class ImapDateTime
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>The content of a date-time (without the quotes): a two-character day (<c>" 7"</c> or <c>"07"</c>; a bare <c>7</c> is accepted too).</summary>
    public static bool TryParseDateTime(ReadOnlySpan<char> text, out DateTimeOffset value)
    {
        value = default;
        if (text.Length > 0 && text[0] == ' ')
        {
            text = text[1..];
        }

        var dash = text.IndexOf('-');
        if (dash is < 1 or > 2 || !TryDigits(text[..dash], out var day))
        {
            return false;
        }

        text = text[(dash + 1)..];
        // MMM-YYYY SP HH:MM:SS SP +ZZZZ
        if (text.Length != 3 + 1 + 4 + 1 + 8 + 1 + 5 || text[3] != '-' || text[8] != ' ' || text[11] != ':' || text[14] != ':' || text[17] != ' ')
        {
            return false;
        }

        if (!TryMonth(text[..3], out var month) || !TryDigits(text.Slice(4, 4), out var year)
            || !TryDigits(text.Slice(9, 2), out var hour) || !TryDigits(text.Slice(12, 2), out var minute) || !TryDigits(text.Slice(15, 2), out var second))
        {
            return false;
        }

        var sign = text[18];
        if (sign is not ('+' or '-') || !TryDigits(text.Slice(19, 2), out var zh) || !TryDigits(text.Slice(21, 2), out var zm) || zm > 59 || zh > 14)
        {
            return false;
        }

        if (year < 1 || hour > 23 || minute > 59 || second > 60 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        var offset = new TimeSpan(zh, zm, 0);
        if (sign == '-')
        {
            offset = -offset;
        }

        try
        {
            value = new DateTimeOffset(year, month, day, hour, minute, Math.Min(second, 59), offset);
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary><c>dd-MMM-yyyy HH:mm:ss +hhmm</c> (two-digit day), without the quotes.</summary>
    public static string FormatDateTime(DateTimeOffset value)
    {
        var offset = value.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        offset = offset.Duration();
        return string.Create(CultureInfo.InvariantCulture,
            $"{value.Day:00}-{Months[value.Month - 1]}-{value.Year:0000} {value.Hour:00}:{value.Minute:00}:{value.Second:00} {sign}{offset.Hours:00}{offset.Minutes:00}");
    }

    /// <summary>A SEARCH date: <c>1*2DIGIT "-" month "-" 4DIGIT</c>.</summary>
    public static bool TryParseDate(ReadOnlySpan<char> text, out DateOnly value)
    {
        value = default;
        var dash = text.IndexOf('-');
        if (dash is < 1 or > 2 || !TryDigits(text[..dash], out var day))
        {
            return false;
        }

        text = text[(dash + 1)..];
        if (text.Length != 8 || text[3] != '-' || !TryMonth(text[..3], out var month) || !TryDigits(text[4..], out var year) || year < 1)
        {
            return false;
        }

        if (day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        value = new DateOnly(year, month, day);
        return true;
    }

    public static string FormatDate(DateOnly value) =>
        string.Create(CultureInfo.InvariantCulture, $"{value.Day}-{Months[value.Month - 1]}-{value.Year:0000}");

    private static bool TryMonth(ReadOnlySpan<char> text, out int month)
    {
        for (var i = 0; i < Months.Length; i++)
        {
            if (text.Equals(Months[i], StringComparison.OrdinalIgnoreCase))
            {
                month = i + 1;
                return true;
            }
        }

        month = 0;
        return false;
    }

    private static bool TryDigits(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
