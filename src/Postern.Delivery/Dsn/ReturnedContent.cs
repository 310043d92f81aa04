using System.Buffers;
using System.Globalization;
using Postern.Delivery.Downgrade;
using Postern.Mime;

namespace Postern.Delivery.Dsn;

/// <summary>How much of the original went back with a DSN.</summary>
internal enum ReturnedKind
{
    /// <summary>The whole message.</summary>
    Full,

    /// <summary>Its headers, because the sender did not ask for more (RET=HDRS or no RET).</summary>
    Headers,

    /// <summary>Its headers, because the whole message was asked for but is larger than the limit.</summary>
    HeadersTooLarge,

    /// <summary>Its headers, because the whole message was asked for but cannot be carried (8-bit headers in a
    /// 7-bit DSN, over-long lines).</summary>
    HeadersUnreturnable,
}

/// <summary>The third part of a DSN: its media type, transfer encoding and bytes.</summary>
internal sealed record ReturnedContent(ReturnedKind Kind, string ContentType, string? TransferEncoding, string Description, byte[] Body, long OriginalSize, string? Problem)
{
    /// <summary>
    /// RET=FULL returns the whole message when it is within the limit and can be carried: in a 7-bit DSN it must be
    /// 7-bit (8-bit bodies are converted with <see cref="EightBitDowngrade"/>; 8-bit headers cannot be); in an EAI DSN
    /// (message/global) its lines must be at most 998 octets. Otherwise, and without RET=FULL, the header fields are
    /// returned, quoted-printable when they hold 8-bit bytes (7-bit DSN) or cannot be sent as they are (EAI); 8-bit
    /// headers that are not UTF-8 are labelled windows-1252, the charset Postern.Mime reads undeclared 8-bit headers in.
    /// Bare CR and LF in the original are made CRLF first. Null when there is no original.
    /// </summary>
    public static ReturnedContent? Choose(DsnReport report, MimeMessage? original, bool eai, DsnOptions options)
    {
        if (original is null)
        {
            return null;
        }

        var size = report.OriginalMessage.Length;
        var limit = Math.Max(0, options.MaxReturnedMessageBytes);
        var kind = ReturnedKind.Headers;
        string? problem = null;
        if (DeliveryStatusNotification.WantsFull(report))
        {
            kind = ReturnedKind.HeadersTooLarge;
            if (size <= limit)
            {
                var whole = ToCrlf(report.OriginalMessage.Span);
                if (whole.Length <= limit && Whole(whole, eai, out var full, out problem) is { } carried)
                {
                    var encoding = EightBitDowngrade.IsSevenBitClean(carried) ? null : "8bit";
                    return new ReturnedContent(ReturnedKind.Full, full, encoding, "Undelivered Message", carried, size, null);
                }

                kind = whole.Length <= limit ? ReturnedKind.HeadersUnreturnable : ReturnedKind.HeadersTooLarge;
            }
        }

        var headers = HeaderBlock(original, limit);
        var clean = EightBitDowngrade.IsSevenBitClean(headers);
        var utf8 = System.Text.Unicode.Utf8.IsValid(headers);
        if (eai)
        {
            var raw = utf8 && NoNulAndShortLines(headers);
            return new ReturnedContent(kind, "message/global-headers", raw ? (clean ? null : "8bit") : "quoted-printable",
                "Undelivered Message Headers", raw ? headers : SevenBitEncoder.QuotedPrintable(headers), size, problem);
        }

        if (clean)
        {
            return new ReturnedContent(kind, "text/rfc822-headers", null, "Undelivered Message Headers", headers, size, problem);
        }

        return new ReturnedContent(kind, "text/rfc822-headers; charset=" + (utf8 ? "utf-8" : "windows-1252"), "quoted-printable",
            "Undelivered Message Headers", SevenBitEncoder.QuotedPrintable(headers), size, problem);
    }

    /// <summary>The whole message as the DSN can carry it, or null with the reason.</summary>
    private static byte[]? Whole(byte[] message, bool eai, out string contentType, out string? problem)
    {
        problem = null;
        if (eai)
        {
            contentType = "message/global";
            if (NoNulAndShortLines(message))
            {
                return message;
            }

            problem = "it has lines longer than 998 octets";
            return null;
        }

        contentType = "message/rfc822";
        var downgrade = EightBitDowngrade.Convert(message);
        if (downgrade.Succeeded)
        {
            return downgrade.Message;
        }

        problem = downgrade.Outcome == DowngradeOutcome.EightBitHeader ? "its header has 8-bit characters" : downgrade.Problem;
        return null;
    }

    /// <summary>The original's header fields (not an mbox From line or junk), CRLF, cut at a field to the limit.</summary>
    private static byte[] HeaderBlock(MimeMessage original, long limit)
    {
        var w = new ArrayBufferWriter<byte>(Math.Max(256, original.Root.HeaderEnd - original.Root.Start + 64));
        foreach (var f in original.Headers)
        {
            if (!f.IsField)
            {
                continue;
            }

            var field = ToCrlf(f.Raw.Span);
            if (field.Length == 0 || field[^1] != '\n')
            {
                field = [.. field, (byte)'\r', (byte)'\n'];
            }

            if (w.WrittenCount + field.Length > limit)
            {
                break;
            }

            w.Write(field);
        }

        return w.WrittenSpan.ToArray();
    }

    private static bool NoNulAndShortLines(ReadOnlySpan<byte> data)
    {
        if (data.IndexOf((byte)0) >= 0)
        {
            return false;
        }

        var lineStart = 0;
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] == '\n')
            {
                if (i - lineStart - 1 > EightBitDowngrade.MaxLineLength)
                {
                    return false;
                }

                lineStart = i + 1;
            }
        }

        return data.Length - lineStart <= EightBitDowngrade.MaxLineLength;
    }

    /// <summary>Every bare CR and bare LF made CRLF.</summary>
    internal static byte[] ToCrlf(ReadOnlySpan<byte> input)
    {
        var extra = 0;
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] == '\n' && (i == 0 || input[i - 1] != '\r'))
            {
                extra++;
            }
            else if (input[i] == '\r' && (i + 1 >= input.Length || input[i + 1] != '\n'))
            {
                extra++;
            }
        }

        if (extra == 0)
        {
            return input.ToArray();
        }

        var output = new byte[input.Length + extra];
        var o = 0;
        for (var i = 0; i < input.Length; i++)
        {
            var b = input[i];
            if (b == '\n' && (i == 0 || input[i - 1] != '\r'))
            {
                output[o++] = (byte)'\r';
                output[o++] = (byte)'\n';
            }
            else if (b == '\r' && (i + 1 >= input.Length || input[i + 1] != '\n'))
            {
                output[o++] = (byte)'\r';
                output[o++] = (byte)'\n';
            }
            else
            {
                output[o++] = b;
            }
        }

        return output;
    }

    /// <summary>"1.5 MiB", "900 KiB", "512 bytes".</summary>
    internal static string Size(long bytes) => bytes switch
    {
        >= 1024 * 1024 => (bytes / (1024.0 * 1024.0)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        >= 1024 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " bytes",
    };
}
