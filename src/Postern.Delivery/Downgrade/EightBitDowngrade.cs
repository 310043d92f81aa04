using System.Buffers;
using System.Globalization;
using Postern.Mime;
using Postern.Mime.Codecs;
using Postern.Protocols.Smtp;

namespace Postern.Delivery.Downgrade;

/// <summary>What <see cref="EightBitDowngrade.Convert"/> made of a message.</summary>
public enum DowngradeOutcome
{
    /// <summary>The message was 7-bit clean with lines of at most 998 octets, and no part was labelled 8bit or binary;
    /// it is returned unchanged.</summary>
    AlreadySevenBit = 0,

    /// <summary>Parts with 8-bit (or over-long, or NUL) content were re-encoded, or parts labelled 8bit or binary
    /// relabelled 7bit; the result is 7-bit clean.</summary>
    Converted = 1,

    /// <summary>A header field holds raw 8-bit bytes (RFC 6532 UTF-8 or undeclared). Headers cannot be re-encoded
    /// without changing what they say, so the message cannot go to a peer without 8BITMIME (bounce it, 5.6.3).</summary>
    EightBitHeader = 2,

    /// <summary>A header line is longer than 998 octets; re-encoding bodies cannot fix it.</summary>
    HeaderLineTooLong = 3,

    /// <summary>The message has 8-bit content where a transfer encoding cannot be applied: a multipart or
    /// message/rfc822 the parser could not open, or a structure past the parser's limits.</summary>
    Unconvertible = 4,
}

/// <summary>The result of a downgrade: on success <see cref="Message"/> is the 7-bit message, otherwise
/// <see cref="Problem"/> says why it could not be made (for the bounce text and the log).</summary>
public sealed record DowngradeResult(DowngradeOutcome Outcome, byte[]? Message, string? Problem, int ConvertedParts)
{
    /// <summary>True for <see cref="DowngradeOutcome.AlreadySevenBit"/> and <see cref="DowngradeOutcome.Converted"/>.</summary>
    public bool Succeeded => Outcome is DowngradeOutcome.AlreadySevenBit or DowngradeOutcome.Converted;

    /// <summary>The enhanced status for the bounce when the downgrade failed: 5.6.3, "conversion required but not
    /// supported" (RFC 3463); null on success.</summary>
    public EnhancedStatusCode? Status => Succeeded ? null : new EnhancedStatusCode(5, 6, 3);
}

/// <summary>
/// The 8BITMIME downgrade (RFC 6152 §3 and RFC 1652 §3: an 8-bit message relayed to a server that does not offer
/// 8BITMIME must be converted to 7 bits, or bounced). Every leaf whose body has 8-bit bytes, NUL or lines over
/// 998 octets is re-encoded: quoted-printable for text (and textual message/* reports), base64 for everything
/// else; its Content-Transfer-Encoding is updated and its content (the decoded bytes) stays exactly the same.
/// Multiparts and nested messages are walked into; a message/rfc822 or multipart labelled 8bit or binary is
/// relabelled 7bit. Parts that are already clean keep their bytes (a clean part labelled 8bit or binary is
/// relabelled 7bit). Header fields are never changed except
/// Content-Transfer-Encoding (and a MIME-Version added to a message that had none). Runs before DKIM signing.
/// Total: never throws on bad input.
/// </summary>
public static class EightBitDowngrade
{
    /// <summary>Longest line allowed on the wire, without its CRLF (RFC 5321 §4.5.3.1.6).</summary>
    public const int MaxLineLength = 998;

    /// <summary>Converts the message when needed. <paramref name="converted"/> is the 7-bit message (the input's bytes
    /// when it was clean already) or empty on failure, with <paramref name="problem"/> saying why.</summary>
    public static bool TryConvert(ReadOnlyMemory<byte> message, out byte[] converted, out string? problem)
    {
        var r = Convert(message);
        converted = r.Message ?? [];
        problem = r.Problem;
        return r.Succeeded;
    }

    /// <summary>Converts the message when needed and reports what was done.</summary>
    public static DowngradeResult Convert(ReadOnlyMemory<byte> message)
    {
        var clean = IsSevenBitClean(message.Span);
        if (clean && !MayHaveEightBitLabel(message.Span))
        {
            return new DowngradeResult(DowngradeOutcome.AlreadySevenBit, message.ToArray(), null, 0);
        }

        try
        {
            return new Converter(message, clean).Run();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new DowngradeResult(DowngradeOutcome.Unconvertible, null, "cannot convert: internal error (" + ex.GetType().Name + ")", 0);
        }
    }

    /// <summary>True when every byte is 1..127 and every line is at most 998 octets (its line break not counted).</summary>
    public static bool IsSevenBitClean(ReadOnlySpan<byte> data)
    {
        var lineStart = 0;
        for (var i = 0; i < data.Length; i++)
        {
            var b = data[i];
            if (b >= 0x80 || b == 0)
            {
                return false;
            }

            if (b == '\n')
            {
                var length = i - lineStart - (i > lineStart && data[i - 1] == '\r' ? 1 : 0);
                if (length > MaxLineLength)
                {
                    return false;
                }

                lineStart = i + 1;
            }
        }

        var last = data.Length - lineStart;
        return last <= MaxLineLength || (last == MaxLineLength + 1 && data[^1] == '\r');
    }

    /// <summary>True when "8bit" or "binary" occurs anywhere (a Content-Transfer-Encoding that may need relabelling).</summary>
    private static bool MayHaveEightBitLabel(ReadOnlySpan<byte> data)
    {
        for (var i = data.IndexOfAny((byte)'8', (byte)'b', (byte)'B'); i >= 0 && i < data.Length; i++)
        {
            var rest = data[i..];
            if (rest.Length >= 4 && System.Text.Ascii.EqualsIgnoreCase(rest[..4], "8bit"u8))
            {
                return true;
            }

            if (rest.Length >= 6 && System.Text.Ascii.EqualsIgnoreCase(rest[..6], "binary"u8))
            {
                return true;
            }

            var next = rest[1..].IndexOfAny((byte)'8', (byte)'b', (byte)'B');
            if (next < 0)
            {
                return false;
            }

            i += next;
        }

        return false;
    }

    private sealed class Converter(ReadOnlyMemory<byte> data, bool clean)
    {
        private static readonly MimeDefect[] LimitDefects =
        [
            MimeDefect.TooManyParts, MimeDefect.NestingTooDeep, MimeDefect.HeaderBlockTooLarge, MimeDefect.TooManyHeaders,
            MimeDefect.MessageTruncated, MimeDefect.InternalError,
        ];

        private readonly Dictionary<MimeEntity, byte[]> _newBodies = [];
        private readonly bool _crlf = DetectCrlf(data.Span);
        private int _converted;
        private bool _relabelled;

        public DowngradeResult Run()
        {
            var message = MimeParser.Parse(data);
            foreach (var e in message.Entities)
            {
                if (HeaderProblem(e) is { } headerFailure)
                {
                    return headerFailure;
                }
            }

            if (message.AllDefects.FirstOrDefault(d => LimitDefects.Contains(d.Defect)) is { Defect: not MimeDefect.None } limit)
            {
                // Bytes that are all 7-bit can go as they are; only their labels would have been fixed.
                return clean
                    ? new DowngradeResult(DowngradeOutcome.AlreadySevenBit, data.ToArray(), null, 0)
                    : Fail(DowngradeOutcome.Unconvertible, $"cannot convert: the message is past a parser limit ({limit.Defect} at offset {Invariant(limit.Offset)})");
            }

            if (Plan(message.Root) is { } failure)
            {
                return Fail(DowngradeOutcome.Unconvertible, failure);
            }

            if (clean && _converted == 0 && !_relabelled)
            {
                return new DowngradeResult(DowngradeOutcome.AlreadySevenBit, data.ToArray(), null, 0);
            }

            if (_converted > 0 && message.Root.Headers.GetField("MIME-Version") is null)
            {
                message.Root.Headers.Add("MIME-Version", "1.0");
            }

            var output = new ArrayBufferWriter<byte>(data.Length + (data.Length / 3) + 256);
            Write(message.Root, output);
            var bytes = output.WrittenSpan.ToArray();
            if (!IsSevenBitClean(bytes))
            {
                // A part the plan did not see (it should not happen): refuse rather than send 8-bit to a 7-bit peer.
                return Fail(DowngradeOutcome.Unconvertible, "cannot convert: the result would not be 7-bit clean");
            }

            return new DowngradeResult(DowngradeOutcome.Converted, bytes, null, _converted);
        }

        private static DowngradeResult Fail(DowngradeOutcome outcome, string problem) => new(outcome, null, problem, 0);

        private static DowngradeResult? HeaderProblem(MimeEntity e)
        {
            foreach (var f in e.Headers)
            {
                var raw = f.Raw.Span;
                var at = raw.IndexOfAnyExceptInRange((byte)1, (byte)127);
                if (at >= 0)
                {
                    var name = f.IsField ? "header field '" + f.Name + "'" : "a header line";
                    return Fail(DowngradeOutcome.EightBitHeader, $"cannot convert: 8-bit header ({name} has byte 0x{raw[at]:X2} at offset {Invariant(f.Offset + at)})");
                }

                if (LongestLine(raw) > MaxLineLength)
                {
                    var name = f.IsField ? "header field '" + f.Name + "'" : "a header line";
                    return Fail(DowngradeOutcome.HeaderLineTooLong, $"cannot convert: {name} has a line longer than {MaxLineLength} octets");
                }
            }

            return null;
        }

        /// <summary>Decides each entity's new body and header changes; returns a problem, or null when all is well.</summary>
        private string? Plan(MimeEntity e)
        {
            var src = e.Source.Span;
            switch (e.Kind)
            {
                case MimeBodyKind.Message when e.Message is not null:
                    if (Plan(e.Message) is { } inner)
                    {
                        return inner;
                    }

                    Relabel(e);
                    return null;

                case MimeBodyKind.Multipart:
                    if (e.Children.Count == 0 && !IsSevenBitClean(e.Preamble.Span))
                    {
                        // No delimiter was found: readers show the whole body as text, so it is content, not filler.
                        return $"cannot convert: a multipart at offset {Invariant(e.Start)} without its boundary has 8-bit data";
                    }

                    foreach (var child in e.Children)
                    {
                        if (Plan(child) is { } failure)
                        {
                            return failure;
                        }
                    }

                    Relabel(e);
                    return null;

                default:
                    var body = src[e.BodyStart..e.End];
                    if (IsSevenBitClean(body))
                    {
                        Relabel(e);
                        return null;
                    }

                    return Reencode(e, body);
            }
        }

        /// <summary>A part labelled 8bit or binary that holds only 7-bit data afterwards (a composite whose parts were
        /// converted, or a leaf that was clean already) is labelled 7bit.</summary>
        private void Relabel(MimeEntity e)
        {
            var declared = e.Headers.GetField("Content-Transfer-Encoding") is null ? null : e.TransferEncoding;
            if (declared is "8bit" or "binary")
            {
                e.Headers.Set("Content-Transfer-Encoding", "7bit");
                _relabelled = true;
            }
        }

        private string? Reencode(MimeEntity e, ReadOnlySpan<byte> body)
        {
            var cte = e.TransferEncoding;
            var ct = e.ContentType;
            byte[] content;
            bool quoted;
            if ((cte is "quoted-printable" or "base64") && (ct.IsMultipart || ct.IsEncapsulatedMessage))
            {
                // RFC 2046 §5.2.1 and §5.1.1 forbid these encodings here; re-encoding would make readers open the
                // part as a structure they now see differently, so such a message is refused, not changed.
                return $"cannot convert: a {ct.MimeType} part at offset {Invariant(e.Start)} is labelled {cte}, which RFC 2046 forbids for it";
            }

            switch (cte)
            {
                case "quoted-printable":
                    // Raw 8-bit bytes inside quoted-printable decode as themselves: encode the decoded bytes again.
                    content = QuotedPrintableDecoder.Decode(body);
                    quoted = true;
                    break;
                case "base64":
                    content = Base64Decoder.Decode(body);
                    quoted = false;
                    break;
                default:
                    // 7bit, 8bit, binary, and unknown names (an unknown encoding with 8-bit bytes is a typo like
                    // "7bits", not a real encoding): the bytes are the content, as decoders take them.
                    if (ct.IsMultipart || ct.IsEncapsulatedMessage || ct.Is("message", "partial") || ct.Is("message", "external-body"))
                    {
                        // RFC 2046 allows no other encoding on these, and the parser could not open this one.
                        return $"cannot convert: a {ct.MimeType} part at offset {Invariant(e.Start)} has 8-bit data and cannot be re-encoded";
                    }

                    content = body.ToArray();
                    quoted = ct.IsText || ct.MediaType == "message";
                    break;
            }

            var w = new ArrayBufferWriter<byte>(content.Length + (content.Length / 2) + 16);
            if (quoted)
            {
                SevenBitEncoder.QuotedPrintable(content, _crlf, w);
            }
            else
            {
                SevenBitEncoder.Base64(content, _crlf, w);
            }

            _newBodies[e] = w.WrittenSpan.ToArray();
            var target = quoted ? "quoted-printable" : "base64";
            if (cte != target || e.Headers.GetField("Content-Transfer-Encoding") is null)
            {
                e.Headers.Set("Content-Transfer-Encoding", target);
            }

            _converted++;
            return null;
        }

        private void Write(MimeEntity e, IBufferWriter<byte> output)
        {
            var src = e.Source.Span;
            foreach (var f in e.Headers)
            {
                output.Write(f.Raw.Span);
            }

            output.Write(src[e.HeaderEnd..e.BodyStart]);
            switch (e.Kind)
            {
                case MimeBodyKind.Message when e.Message is not null:
                    Write(e.Message, output);
                    break;
                case MimeBodyKind.Multipart:
                    WriteFiller(e.Preamble.Span, output);
                    var delimiters = e.Delimiters;
                    var children = e.Children;
                    for (var i = 0; i < delimiters.Count; i++)
                    {
                        WriteFiller(src[delimiters[i].Start..delimiters[i].End], output);
                        if (i < children.Count)
                        {
                            Write(children[i], output);
                        }
                    }

                    if (e.EpilogueStart >= 0)
                    {
                        WriteFiller(src[e.EpilogueStart..e.End], output);
                    }

                    break;
                default:
                    output.Write(_newBodies.TryGetValue(e, out var body) ? body : src[e.BodyStart..e.End]);
                    break;
            }
        }

        /// <summary>Preamble, epilogue and delimiter lines carry no content: 8-bit bytes there become '?' and lines past
        /// 998 octets are cut (cutting cannot make a new delimiter line, where breaking a line could).</summary>
        private static void WriteFiller(ReadOnlySpan<byte> filler, IBufferWriter<byte> output)
        {
            if (IsSevenBitClean(filler))
            {
                output.Write(filler);
                return;
            }

            var lineLength = 0;
            var buffer = new byte[filler.Length];
            var n = 0;
            for (var i = 0; i < filler.Length; i++)
            {
                var b = filler[i];
                if (b is (byte)'\r' or (byte)'\n')
                {
                    buffer[n++] = b;
                    lineLength = b == '\n' ? 0 : lineLength;
                    continue;
                }

                if (lineLength >= MaxLineLength)
                {
                    continue;
                }

                buffer[n++] = b is >= 0x80 or 0 ? (byte)'?' : b;
                lineLength++;
            }

            output.Write(buffer.AsSpan(0, n));
        }

        private static int LongestLine(ReadOnlySpan<byte> raw)
        {
            var max = 0;
            foreach (var line in raw.Split((byte)'\n'))
            {
                var l = raw[line];
                var length = l.Length > 0 && l[^1] == '\r' ? l.Length - 1 : l.Length;
                max = Math.Max(max, length);
            }

            return max;
        }

        private static bool DetectCrlf(ReadOnlySpan<byte> span)
        {
            var nl = span.IndexOf((byte)'\n');
            return nl <= 0 || span[nl - 1] == '\r';
        }

        private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
    }
}
