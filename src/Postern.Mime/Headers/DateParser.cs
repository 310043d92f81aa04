using System.Globalization;

namespace Postern.Mime.Headers;

/// <summary>A Date field's value. When <see cref="IsValid"/> is false the field was missing or unreadable: no date is invented.</summary>
public readonly record struct MimeDate(bool IsValid, DateTimeOffset Value, bool ZoneKnown)
{
    public static MimeDate Missing { get; }
}

/// <summary>RFC 5322 dates with the obsolete syntax (two-digit years, named zones, comments) and common broken forms
/// (missing comma or seconds, asctime order, numeric months, trailing junk, Received-style prefixes).</summary>
public static class DateParser
{
    private static readonly string[] Months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    private static readonly string[] Days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    /// <summary>Parses a date; never throws.</summary>
    public static MimeDate Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return MimeDate.Missing;
        }

        var s = value;
        var semi = s.LastIndexOf(';');
        if (semi >= 0)
        {
            s = s[(semi + 1)..];
        }

        if (!StripComments(s, out s))
        {
            return MimeDate.Missing;
        }

        var tokens = s.Split([' ', '\t', '\r', '\n', ','], StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length == 1 && TryIso(tokens[0], out var iso))
        {
            return iso;
        }

        int? day = null, month = null, year = null, hour = null, minute = null, second = null;
        TimeSpan? zone = null;
        var zoneKnown = false;
        foreach (var raw in tokens)
        {
            var t = raw.Trim('.');
            if (t.Length == 0)
            {
                continue;
            }

            if (hour is null && t.Contains(':', StringComparison.Ordinal) && char.IsAsciiDigit(t[0]))
            {
                var parts = t.Split(':');
                if (parts.Length is < 2 or > 3 || !parts.All(p => p.Length is > 0 and <= 2 && p.All(char.IsAsciiDigit)))
                {
                    return MimeDate.Missing;
                }

                hour = int.Parse(parts[0], CultureInfo.InvariantCulture);
                minute = int.Parse(parts[1], CultureInfo.InvariantCulture);
                second = parts.Length == 3 ? int.Parse(parts[2], CultureInfo.InvariantCulture) : 0;
                continue;
            }

            if (t.Length >= 4 && (t[0] is '+' or '-') && (t[1] is '+' or '-'))
            {
                // "+-0500": a sign too many; the second one is meant.
                t = t[1..];
            }

            if (hour is not null && zone is null && TryNamedOffset(t, out var named))
            {
                zone = named;
                zoneKnown = true;
                continue;
            }

            if ((t[0] is '+' or '-') && t.Length >= 3 && t[1..].Replace(":", string.Empty, StringComparison.Ordinal).All(char.IsAsciiDigit))
            {
                if (zone is null && hour is not null)
                {
                    var digits = t[1..].Replace(":", string.Empty, StringComparison.Ordinal);
                    if (digits.Length == 2)
                    {
                        digits += "00";
                    }

                    if (digits.Length != 4)
                    {
                        return MimeDate.Missing;
                    }

                    var zh = int.Parse(digits[..2], CultureInfo.InvariantCulture);
                    var zm = int.Parse(digits[2..], CultureInfo.InvariantCulture);
                    if (zm > 59)
                    {
                        return MimeDate.Missing;
                    }

                    var off = new TimeSpan(zh, zm, 0);
                    zone = t[0] == '-' ? -off : off;
                    zoneKnown = true;
                }

                continue;
            }

            if (t.All(char.IsAsciiDigit))
            {
                if (t.Length > 4)
                {
                    continue;
                }

                var n = int.Parse(t, CultureInfo.InvariantCulture);
                if (day is null && hour is null && t.Length <= 2)
                {
                    day = n;
                }
                else if (month is null && day is not null && t.Length <= 2 && hour is null)
                {
                    if (n is < 1 or > 12)
                    {
                        return MimeDate.Missing;
                    }

                    month = n;
                }
                else if (year is null && (month is not null || t.Length >= 3))
                {
                    year = t.Length switch
                    {
                        <= 2 => n < 50 ? 2000 + n : 1900 + n,
                        3 => 1900 + n,
                        _ when n is >= 100 and < 200 => 1900 + n, // "0102": the tm_year + 1900 bug, meaning 2002
                        _ => n,
                    };
                }

                continue;
            }

            if (t.All(char.IsAsciiLetter))
            {
                var lower = t.ToLowerInvariant();
                if (month is null && lower.Length >= 3 && Array.IndexOf(Months, lower[..3]) is var mi and >= 0 && (lower.Length == 3 || FullMonth(lower)))
                {
                    month = mi + 1;
                    continue;
                }

                if (lower.Length >= 3 && Array.IndexOf(Days, lower[..3]) >= 0 && day is null)
                {
                    continue;
                }

                if (hour is not null && zone is null)
                {
                    zone = NamedZone(lower, out zoneKnown);
                    continue;
                }

                if (day is not null && month is null)
                {
                    // A word where the month should be.
                    return MimeDate.Missing;
                }

                continue;
            }

            if (hour is not null && zone is null && char.IsAsciiLetter(t[0]))
            {
                zone = NamedZone(new string(t.TakeWhile(char.IsAsciiLetter).ToArray()).ToLowerInvariant(), out zoneKnown);
            }
        }

        if (day is null || month is null || year is null || hour is null)
        {
            return MimeDate.Missing;
        }

        if (year < 1000 || year > 9999 || hour > 23 || minute > 59 || second > 60 || day < 1 || day > DateTime.DaysInMonth(year.Value, month.Value))
        {
            return MimeDate.Missing;
        }

        var dt = new DateTime(year.Value, month.Value, day.Value, hour.Value, minute!.Value, Math.Min(second!.Value, 59), DateTimeKind.Unspecified);
        var offset = zone ?? TimeSpan.Zero;
        if (offset.Duration() > TimeSpan.FromHours(14))
        {
            // Offsets past +-14:00 (spam writes -1900) cannot be kept as an offset: the instant is given in UTC.
            return new MimeDate(true, new DateTimeOffset(DateTime.SpecifyKind(dt - offset, DateTimeKind.Utc)), false);
        }

        return new MimeDate(true, new DateTimeOffset(dt, offset), zoneKnown);
    }

    /// <summary>"GMT+1", "UTC-0530", "GMT+01:00".</summary>
    private static bool TryNamedOffset(string t, out TimeSpan offset)
    {
        offset = TimeSpan.Zero;
        var letters = 0;
        while (letters < t.Length && char.IsAsciiLetter(t[letters]))
        {
            letters++;
        }

        if (letters is < 2 or > 3 || letters + 1 >= t.Length || t[letters] is not ('+' or '-'))
        {
            return false;
        }

        var name = t[..letters].ToLowerInvariant();
        if (name is not ("gmt" or "utc" or "ut"))
        {
            return false;
        }

        var digits = t[(letters + 1)..].Replace(":", string.Empty, StringComparison.Ordinal);
        if (digits.Length is 0 or > 4 || !digits.All(char.IsAsciiDigit))
        {
            return false;
        }

        var hh = digits.Length <= 2 ? int.Parse(digits, CultureInfo.InvariantCulture) : int.Parse(digits[..^2], CultureInfo.InvariantCulture);
        var mm = digits.Length <= 2 ? 0 : int.Parse(digits[^2..], CultureInfo.InvariantCulture);
        if (hh > 14 || mm > 59)
        {
            return false;
        }

        offset = new TimeSpan(hh, mm, 0);
        if (t[letters] == '-')
        {
            offset = -offset;
        }

        return true;
    }

    private static bool FullMonth(string lower) =>
        CultureInfo.InvariantCulture.DateTimeFormat.MonthNames.Any(m => m.Length > 0 && string.Equals(m, lower, StringComparison.OrdinalIgnoreCase));

    private static TimeSpan NamedZone(string z, out bool known)
    {
        known = true;
        var prefix = z.Length >= 3 ? z[..3] : z;
        switch (z)
        {
            case "ut" or "gmt" or "utc" or "z":
                return TimeSpan.Zero;
        }

        switch (prefix)
        {
            case "edt": return TimeSpan.FromHours(-4);
            case "est": return TimeSpan.FromHours(-5);
            case "cdt": return TimeSpan.FromHours(-5);
            case "cst": return TimeSpan.FromHours(-6);
            case "mdt": return TimeSpan.FromHours(-6);
            case "mst": return TimeSpan.FromHours(-7);
            case "pdt": return TimeSpan.FromHours(-7);
            case "pst": return TimeSpan.FromHours(-8);
            case "gmt" or "utc": return TimeSpan.Zero;
        }

        // Military zones and unknown names: RFC 5322 says to treat them as -0000 (unknown zone).
        known = false;
        return TimeSpan.Zero;
    }

    private static bool TryIso(string t, out MimeDate date)
    {
        date = MimeDate.Missing;
        if (t.Length < 10 || t[4] != '-')
        {
            return false;
        }

        if (DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var v))
        {
            date = new MimeDate(true, v, true);
            return true;
        }

        return false;
    }

    private static bool StripComments(string s, out string result)
    {
        var sb = new System.Text.StringBuilder(s.Length);
        var depth = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\' && depth > 0)
            {
                i++;
                continue;
            }

            if (c == '(')
            {
                depth++;
                sb.Append(' ');
                continue;
            }

            if (c == ')')
            {
                if (depth == 0)
                {
                    result = s;
                    return false;
                }

                depth--;
                continue;
            }

            if (depth == 0)
            {
                sb.Append(c);
            }
        }

        result = sb.ToString();
        return depth == 0 || sb.ToString().Trim().Length > 0;
    }
}

/// <summary>Message-ID, In-Reply-To and References: the ids without angle brackets.</summary>
public static class MessageIds
{
    /// <summary>Ids in order; a value without brackets counts as one id.</summary>
    public static IReadOnlyList<string> Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return [];
        }

        var result = new List<string>();
        var i = 0;
        var sawBracket = false;
        while (i < value.Length)
        {
            var lt = value.IndexOf('<', i);
            if (lt < 0)
            {
                break;
            }

            sawBracket = true;
            var gt = value.IndexOf('>', lt + 1);
            if (gt < 0)
            {
                var rest = value[(lt + 1)..].Trim();
                if (rest.Length > 0)
                {
                    result.Add(rest);
                }

                break;
            }

            var id = value[(lt + 1)..gt].Trim();
            if (id.Length > 0)
            {
                result.Add(id);
            }

            i = gt + 1;
        }

        if (!sawBracket)
        {
            var t = value.Trim();
            if (t.Length > 0)
            {
                result.Add(t);
            }
        }

        return result;
    }
}
