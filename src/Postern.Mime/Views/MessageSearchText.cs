using System.Text;
using Postern.Mime.Headers;

namespace Postern.Mime.Views;

/// <summary>
/// The text a mailbox store indexes for full-text search (IMAP SEARCH TEXT/BODY and friends, webmail search).
/// The index narrows candidates and the caller confirms against the message, so this text must hold every
/// word those searches can match, and may hold more:
/// <list type="bullet">
/// <item>every header field of the message, "Name: value" with the value decoded (RFC 2047 words, 8-bit text);
/// address fields also as "Display Name &lt;local@domain&gt;" so a search for the decoded name or the bare address finds it;</item>
/// <item>every text part (text/plain as decoded, text/html as its visible text, other text/* as decoded), both sides of
/// a multipart/alternative, and the same for messages attached as message/rfc822 (their header fields too);</item>
/// <item>attachment file names.</item>
/// </list>
/// The per-recipient trace prefix a store keeps beside the blob (Return-Path, Delivered-To, Received) is not part of
/// the parsed message and so not here. The result is capped at <see cref="MaxChars"/> characters: what comes after
/// the cap (the tail of a very long message) is not indexed. Never throws on any input.
/// </summary>
public static class MessageSearchText
{
    /// <summary>The most characters returned (1 MiB of UTF-16 code units).</summary>
    public const int MaxChars = 1024 * 1024;

    /// <summary>HTML bodies longer than this (in characters) are cut before they go to the HTML parser.</summary>
    public const int MaxHtmlChars = 4 * MaxChars;

    /// <summary>How deep attached messages are followed.</summary>
    public const int MaxNestedMessages = 8;

    /// <summary>The indexed text of a message: its header fields and its body, at most <paramref name="maxChars"/> characters.</summary>
    public static string Build(MimeMessage message, int maxChars = MaxChars) => Gather(message, maxChars, headers: true);

    /// <summary>
    /// The body's text only (IMAP SEARCH BODY): text parts, attachment names and attached messages, without the
    /// message's own header fields.
    /// </summary>
    public static string BuildBody(MimeMessage message, int maxChars = MaxChars) => Gather(message, maxChars, headers: false);

    private static string Gather(MimeMessage message, int maxChars, bool headers)
    {
        ArgumentNullException.ThrowIfNull(message);
        var text = new Bounded(maxChars);
        try
        {
            if (headers)
            {
                AddHeaders(text, message.Root.Headers);
            }

            AddBody(text, message.Root, 0);
        }
        catch (Exception) when (text.Length > 0)
        {
            // A part we could not read: keep what was gathered (the parser is total; this is a last guard).
        }
        catch (Exception)
        {
            return string.Empty;
        }

        return text.ToString();
    }

    private static void AddMessage(Bounded text, MimeEntity message, int nesting)
    {
        AddHeaders(text, message.Headers);
        AddBody(text, message, nesting);
    }

    private static void AddHeaders(Bounded text, HeaderList headers)
    {
        foreach (var field in headers)
        {
            if (text.Full)
            {
                return;
            }

            if (!field.IsField)
            {
                continue;
            }

            var name = field.Name;
            text.Line(name + ": " + field.Value);
            if (IsAddressField(name))
            {
                foreach (var m in AddressParser.Parse(field.RawValue.Span).Mailboxes)
                {
                    text.Line(string.IsNullOrEmpty(m.Name) ? "<" + m.Address + ">" : m.Name + " <" + m.Address + ">");
                }
            }
        }
    }

    private static bool IsAddressField(string name) =>
        name.Equals("From", StringComparison.OrdinalIgnoreCase) || name.Equals("To", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Cc", StringComparison.OrdinalIgnoreCase) || name.Equals("Bcc", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Sender", StringComparison.OrdinalIgnoreCase) || name.Equals("Reply-To", StringComparison.OrdinalIgnoreCase);

    private static void AddBody(Bounded text, MimeEntity entity, int nesting)
    {
        var stack = new Stack<MimeEntity>();
        stack.Push(entity);
        while (stack.Count > 0 && !text.Full)
        {
            var e = stack.Pop();
            if (e != entity && e.FileName is { } fileName)
            {
                text.Line(fileName);
            }

            switch (e.Kind)
            {
                case MimeBodyKind.Multipart when e.Children.Count == 0:
                    // A multipart without parts is read as plain text, as the IMAP views do.
                    text.Line(Codecs.Charsets.DecodeUndeclared(e.RawBody.Span, out _));
                    break;
                case MimeBodyKind.Multipart:
                    for (var i = e.Children.Count - 1; i >= 0; i--)
                    {
                        stack.Push(e.Children[i]);
                    }

                    break;
                case MimeBodyKind.Message when e.Message is not null && e.Message != entity:
                    if (nesting < MaxNestedMessages)
                    {
                        AddMessage(text, e.Message, nesting + 1);
                    }

                    break;
                default:
                    AddLeaf(text, e);
                    break;
            }
        }
    }

    private static void AddLeaf(Bounded text, MimeEntity e)
    {
        if (!e.ContentType.IsText)
        {
            return;
        }

        var body = e.GetText();
        if (string.IsNullOrEmpty(body))
        {
            return;
        }

        if (e.ContentType.SubtypeIs("html"))
        {
            body = MessageContent.HtmlToText(body.Length > MaxHtmlChars ? body[..MaxHtmlChars] : body);
        }

        text.Line(body);
    }

    /// <summary>A StringBuilder that stops growing at a cap (never splitting a surrogate pair).</summary>
    private sealed class Bounded(int cap)
    {
        private readonly StringBuilder _sb = new();

        public int Length => _sb.Length;

        public bool Full => _sb.Length >= cap;

        public void Line(string s)
        {
            if (Full || s.Length == 0)
            {
                return;
            }

            if (_sb.Length > 0)
            {
                _sb.Append('\n');
            }

            var room = cap - _sb.Length;
            if (s.Length <= room)
            {
                _sb.Append(s);
                return;
            }

            var take = room;
            if (take > 0 && char.IsHighSurrogate(s[take - 1]))
            {
                take--;
            }

            _sb.Append(s, 0, take);
            if (_sb.Length < cap)
            {
                // Mark it full even when the last character was held back.
                _sb.Append(' ', cap - _sb.Length);
            }
        }

        public override string ToString() => _sb.Length > cap ? _sb.ToString(0, cap) : _sb.ToString();
    }
}
