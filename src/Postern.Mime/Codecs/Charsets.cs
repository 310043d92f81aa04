using System.Collections.Concurrent;
using System.Text;

namespace Postern.Mime.Codecs;

/// <summary>Charset names to .NET encodings, with the legacy code pages registered once.</summary>
public static class Charsets
{
    // Field initialisers run in order: register the code pages before anything looks one up.
    private static readonly bool Registered = Register();
    private static readonly ConcurrentDictionary<string, Encoding?> Cache = new(StringComparer.OrdinalIgnoreCase);

    private static bool Register()
    {
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        return true;
    }

    /// <summary>True once the legacy code pages are registered (they are, before first use).</summary>
    public static bool CodePagesRegistered => Registered;

    /// <summary>Windows-1252, the fallback for undeclared 8-bit text.</summary>
    public static Encoding Windows1252 { get; } = GetOrFallback("windows-1252");

    /// <summary>UTF-8 without a BOM that replaces invalid bytes.</summary>
    public static Encoding Utf8 { get; } = new UTF8Encoding(false, false);

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private static Encoding GetOrFallback(string name) => Get(name) ?? Encoding.Latin1;

    /// <summary>The encoding for a MIME charset name, or null when .NET does not know it.</summary>
    public static Encoding? Get(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        return Cache.GetOrAdd(name.Trim(), Lookup);
    }

    private static Encoding? Lookup(string name)
    {
        var n = name.Trim('"', '\'', ' ').ToLowerInvariant();
        n = n switch
        {
            "utf8" or "utf-8" or "x-utf-8" or "unicode-1-1-utf-8" => "utf-8",
            "ascii" or "us-ascii" or "ansi_x3.4-1968" or "iso646-us" or "us" => "us-ascii",
            "latin1" or "latin-1" or "l1" => "iso-8859-1",
            "cp1252" or "win-1252" => "windows-1252",
            "ks_c_5601" or "ks_c_5601-1987" or "ksc5601" or "ksc_5601" or "euckr" => "euc-kr",
            "gb2312" or "gbk" or "x-gbk" or "cp936" or "gb_2312-80" => "gb2312",
            "shift-jis" or "sjis" or "x-sjis" or "shift_jis" or "cp932" or "ms932" or "windows-31j" => "shift_jis",
            "iso-2022-jp-2" or "iso-2022-jp-3" => "iso-2022-jp",
            "tis-620" or "tis620" => "windows-874",
            _ => n,
        };

        if (n.StartsWith("iso8859-", StringComparison.Ordinal) || n.StartsWith("iso_8859-", StringComparison.Ordinal))
        {
            n = "iso-8859-" + n[(n.IndexOf('-', StringComparison.Ordinal) + 1)..];
        }
        else if (n.StartsWith("iso8859", StringComparison.Ordinal) && n.Length > 7)
        {
            n = "iso-8859-" + n[7..];
        }
        else if (n.StartsWith("cp", StringComparison.Ordinal) && int.TryParse(n.AsSpan(2), out var cp))
        {
            return TryCodePage(cp);
        }

        if (n == "utf-8")
        {
            return Utf8;
        }

        try
        {
            return Encoding.GetEncoding(n);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static Encoding? TryCodePage(int cp)
    {
        try
        {
            return Encoding.GetEncoding(cp);
        }
        catch (ArgumentException)
        {
            return null;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>True if every byte is below 128.</summary>
    public static bool IsAscii(ReadOnlySpan<byte> bytes) => System.Text.Ascii.IsValid(bytes);

    /// <summary>Undeclared bytes to text: ASCII as is, valid UTF-8 as UTF-8, anything else as Windows-1252.</summary>
    public static string DecodeUndeclared(ReadOnlySpan<byte> bytes, out bool wasEightBit)
    {
        if (System.Text.Ascii.IsValid(bytes))
        {
            wasEightBit = false;
            return Encoding.ASCII.GetString(bytes);
        }

        wasEightBit = true;
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return StrictUtf8.GetString(bytes);
        }

        return Windows1252.GetString(bytes);
    }

    /// <summary>Decodes bytes in a declared charset; unknown charsets fall back to undeclared decoding.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string? charset, out bool known) =>
        Decode(bytes, charset, out known, out _, check: false);

    /// <summary>As <see cref="Decode(ReadOnlySpan{byte}, string?, out bool)"/>; <paramref name="invalid"/> tells whether some bytes
    /// were not valid in the declared (and known) charset and were replaced or read as undeclared 8-bit text: invalid UTF-8,
    /// 8-bit bytes declared US-ASCII, or sequences a legacy code page cannot map.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string? charset, out bool known, out bool invalid) =>
        Decode(bytes, charset, out known, out invalid, check: true);

    private static string Decode(ReadOnlySpan<byte> bytes, string? charset, out bool known, out bool invalid, bool check)
    {
        invalid = false;
        var enc = Get(charset);
        known = enc is not null;
        if (enc is null || enc.CodePage == 20127)
        {
            // Unknown, or US-ASCII that often carries 8-bit anyway.
            var text = DecodeUndeclared(bytes, out var eightBit);
            invalid = known && eightBit;
            return text;
        }

        if (enc.CodePage == 65001)
        {
            invalid = check && !System.Text.Unicode.Utf8.IsValid(bytes);
            return Utf8.GetString(bytes);
        }

        if (!check || System.Text.Ascii.IsValid(bytes))
        {
            return enc.GetString(bytes);
        }

        var flagging = Flagging.GetOrAdd(enc.CodePage, CreateFlagging);
        if (flagging is null)
        {
            return enc.GetString(bytes);
        }

        FlaggingDecoderFallback.Hit = false;
        var result = flagging.GetString(bytes);
        invalid = FlaggingDecoderFallback.Hit;
        return result;
    }

    private static readonly ConcurrentDictionary<int, Encoding?> Flagging = new();

    private static Encoding? CreateFlagging(int codePage)
    {
        try
        {
            return Encoding.GetEncoding(codePage, EncoderFallback.ReplacementFallback, new FlaggingDecoderFallback());
        }
        catch (ArgumentException)
        {
            return null;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Replaces bytes a code page cannot decode with U+FFFD, as the default fallback does, and notes that it did
    /// (per thread: a decode runs on one thread).</summary>
    private sealed class FlaggingDecoderFallback : DecoderFallback
    {
        [ThreadStatic]
        private static bool _hit;

        public static bool Hit
        {
            get => _hit;
            set => _hit = value;
        }

        public override int MaxCharCount => 1;

        public override DecoderFallbackBuffer CreateFallbackBuffer() => new Buffer();

        public override bool Equals(object? obj) => obj is FlaggingDecoderFallback;

        public override int GetHashCode() => nameof(FlaggingDecoderFallback).GetHashCode(StringComparison.Ordinal);

        private sealed class Buffer : DecoderFallbackBuffer
        {
            private bool _pending;

            public override int Remaining => _pending ? 1 : 0;

            public override bool Fallback(byte[] bytesUnknown, int index)
            {
                Hit = true;
                _pending = true;
                return true;
            }

            public override char GetNextChar()
            {
                if (!_pending)
                {
                    return '\0';
                }

                _pending = false;
                return '\uFFFD';
            }

            public override bool MovePrevious()
            {
                if (_pending)
                {
                    return false;
                }

                _pending = true;
                return true;
            }

            public override void Reset() => _pending = false;
        }
    }
}
