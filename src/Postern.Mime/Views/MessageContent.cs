using System.IO.Compression;
using System.Text;
using AngleSharp.Html.Parser;

namespace Postern.Mime.Views;

/// <summary>An attachment as the filters see it.</summary>
/// <param name="FileName">The declared file name, decoded, or null.</param>
/// <param name="DeclaredType">The Content-Type as declared ("application/pdf").</param>
/// <param name="DetectedType">The type its first bytes show ("application/zip"), or null when not recognised.</param>
/// <param name="Size">Decoded size in bytes.</param>
/// <param name="ArchiveEntries">For zip archives, the names inside (at most <see cref="MessageContent.MaxArchiveEntries"/>); otherwise empty.</param>
/// <param name="Entity">The part itself.</param>
public sealed record AttachmentInfo(string? FileName, string DeclaredType, string? DetectedType, long Size, IReadOnlyList<string> ArchiveEntries, MimeEntity Entity);

/// <summary>Text, URLs and attachments of a message, for filters and previews.</summary>
public static class MessageContent
{
    /// <summary>Zip entry names listed per archive.</summary>
    public const int MaxArchiveEntries = 1000;

    private static readonly HtmlParser Parser = new(new HtmlParserOptions { IsScripting = false });

    /// <summary>The message's plain text: text/plain parts as they are, text/html parts through a real HTML parser.
    /// Nested messages are not included.</summary>
    public static string GetPlainText(MimeMessage message)
    {
        var sb = new StringBuilder();
        foreach (var e in BodyLeaves(message.Root))
        {
            var text = e.GetText();
            if (text is null)
            {
                continue;
            }

            if (e.ContentType.SubtypeIs("html"))
            {
                text = HtmlToText(text);
            }

            if (sb.Length > 0)
            {
                sb.Append('\n');
            }

            sb.Append(text);
        }

        return sb.ToString();
    }

    /// <summary>Visible text of an HTML document (script, style and head content dropped; block elements on new lines).</summary>
    public static string HtmlToText(string html)
    {
        var doc = Parser.ParseDocument(html);
        var sb = new StringBuilder();
        void Walk(AngleSharp.Dom.INode node)
        {
            foreach (var child in node.ChildNodes)
            {
                switch (child)
                {
                    case AngleSharp.Dom.IText t:
                        sb.Append(t.Data);
                        break;
                    case AngleSharp.Dom.IElement el:
                        var tag = el.LocalName;
                        if (tag is "script" or "style" or "head" or "template" or "noscript")
                        {
                            break;
                        }

                        var block = tag is "p" or "div" or "br" or "tr" or "li" or "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "table" or "blockquote" or "pre" or "hr";
                        if (block && sb.Length > 0 && sb[^1] != '\n')
                        {
                            sb.Append('\n');
                        }

                        Walk(el);
                        if (block && sb.Length > 0 && sb[^1] != '\n')
                        {
                            sb.Append('\n');
                        }

                        break;
                }
            }
        }

        Walk(doc.Body ?? (AngleSharp.Dom.INode)doc);
        var lines = sb.ToString().Split('\n').Select(l => string.Join(' ', l.Split([' ', '\t', '\r', '\u00a0'], StringSplitOptions.RemoveEmptyEntries)));
        return string.Join('\n', lines.Where(l => l.Length > 0));
    }

    /// <summary>Every URL in the message's text and HTML (href, src, action, plain text), de-obfuscated
    /// (hxxp, [.] and (dot), entities, percent-encoded hosts), in order of appearance, without duplicates.</summary>
    public static IReadOnlyList<string> GetUrls(MimeMessage message)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        void Add(string? url)
        {
            if (string.IsNullOrWhiteSpace(url))
            {
                return;
            }

            var clean = Deobfuscate(url.Trim());
            if (LooksLikeUrl(clean) && seen.Add(clean))
            {
                result.Add(clean);
            }
        }

        foreach (var e in BodyLeaves(message.Root))
        {
            var text = e.GetText();
            if (text is null)
            {
                continue;
            }

            if (e.ContentType.SubtypeIs("html"))
            {
                var doc = Parser.ParseDocument(text);
                foreach (var el in doc.QuerySelectorAll("[href],[src],[action],[background]"))
                {
                    Add(el.GetAttribute("href"));
                    Add(el.GetAttribute("src"));
                    Add(el.GetAttribute("action"));
                    Add(el.GetAttribute("background"));
                }

                text = doc.Body?.TextContent ?? string.Empty;
            }

            foreach (var u in ScanText(text))
            {
                Add(u);
            }
        }

        return result;
    }

    private static bool LooksLikeUrl(string s) =>
        s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ||
        s.StartsWith("ftp://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase);

    /// <summary>URLs written in plain text: scheme://..., hxxp://..., www.host...</summary>
    public static IEnumerable<string> ScanText(string text)
    {
        var i = 0;
        while (i < text.Length)
        {
            var start = FindStart(text, i);
            if (start < 0)
            {
                yield break;
            }

            var end = start;
            while (end < text.Length && !char.IsWhiteSpace(text[end]) && text[end] is not ('<' or '>' or '"' or '\'' or '`' or '{' or '}' or '|' or '\\' or '^'))
            {
                end++;
            }

            var url = text[start..end].TrimEnd('.', ',', ';', ':', '!', '?', ')', ']');
            if (url.StartsWith("www.", StringComparison.OrdinalIgnoreCase))
            {
                url = "http://" + url;
            }

            yield return url;
            i = Math.Max(end, start + 1);
        }
    }

    private static int FindStart(string text, int from)
    {
        var best = -1;
        foreach (var marker in (string[])["http://", "https://", "hxxp://", "hxxps://", "ftp://", "www.", "mailto:"])
        {
            var k = text.IndexOf(marker, from, StringComparison.OrdinalIgnoreCase);
            if (k >= 0 && (best < 0 || k < best) && (k == 0 || !char.IsLetterOrDigit(text[k - 1]) || marker != "www."))
            {
                best = k;
            }
        }

        return best;
    }

    /// <summary>Undoes common obfuscations: hxxp, [.] (.) [dot], backslashes, percent-encoded host names.</summary>
    public static string Deobfuscate(string url)
    {
        var s = url;
        if (s.StartsWith("hxxp", StringComparison.OrdinalIgnoreCase))
        {
            s = "http" + s[4..];
        }

        s = s.Replace("[.]", ".", StringComparison.Ordinal).Replace("(.)", ".", StringComparison.Ordinal)
            .Replace("[dot]", ".", StringComparison.OrdinalIgnoreCase).Replace("(dot)", ".", StringComparison.OrdinalIgnoreCase)
            .Replace('\\', '/');
        var schemeEnd = s.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd > 0)
        {
            var hostStart = schemeEnd + 3;
            var hostEnd = s.IndexOfAny(['/', '?', '#'], hostStart);
            if (hostEnd < 0)
            {
                hostEnd = s.Length;
            }

            var host = s[hostStart..hostEnd];
            if (host.Contains('%', StringComparison.Ordinal))
            {
                try
                {
                    host = Uri.UnescapeDataString(host);
                }
                catch (UriFormatException)
                {
                }
            }

            var at = host.LastIndexOf('@');
            var userInfo = at >= 0 ? host[..(at + 1)] : string.Empty;
            host = (at >= 0 ? host[(at + 1)..] : host).ToLowerInvariant();
            s = s[..hostStart] + userInfo + host + s[hostEnd..];
        }

        return s;
    }

    /// <summary>Attachments with their true type (by magic bytes) and, for zip archives, the names inside.</summary>
    public static IReadOnlyList<AttachmentInfo> GetAttachments(MimeMessage message)
    {
        var list = new List<AttachmentInfo>();
        foreach (var e in message.Attachments)
        {
            var content = e.Kind == MimeBodyKind.Message ? e.RawBody.ToArray() : e.GetContent();
            var detected = e.Kind == MimeBodyKind.Message ? "message/rfc822" : DetectType(content);
            IReadOnlyList<string> entries = detected == "application/zip" ? ZipEntries(content) : [];
            list.Add(new AttachmentInfo(e.FileName, e.ContentType.MimeType, detected, content.Length, entries, e));
        }

        return list;
    }

    /// <summary>The media type shown by the first bytes, or null.</summary>
    public static string? DetectType(ReadOnlySpan<byte> c)
    {
        if (c.StartsWith("%PDF-"u8))
        {
            return "application/pdf";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']))
        {
            return "image/png";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return "image/jpeg";
        }

        if (c.StartsWith("GIF87a"u8) || c.StartsWith("GIF89a"u8))
        {
            return "image/gif";
        }

        if (c.StartsWith("PK\u0003\u0004"u8) || c.StartsWith("PK\u0005\u0006"u8))
        {
            return "application/zip";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            return "application/gzip";
        }

        if (c.StartsWith("Rar!"u8))
        {
            return "application/vnd.rar";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[(byte)'7', (byte)'z', 0xBC, 0xAF, 0x27, 0x1C]))
        {
            return "application/x-7z-compressed";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]))
        {
            return "application/x-ole-storage";
        }

        if (c.StartsWith("MZ"u8))
        {
            return "application/x-msdownload";
        }

        if (c.StartsWith((ReadOnlySpan<byte>)[0x7F, (byte)'E', (byte)'L', (byte)'F']))
        {
            return "application/x-elf";
        }

        if (c.StartsWith("{\\rtf"u8))
        {
            return "application/rtf";
        }

        if (c.Length >= 12 && c.StartsWith("RIFF"u8) && c[8..12].SequenceEqual("WEBP"u8))
        {
            return "image/webp";
        }

        if (c.StartsWith("BM"u8) && c.Length > 14)
        {
            return "image/bmp";
        }

        var head = c[..Math.Min(c.Length, 512)];
        var trimmed = head.TrimStart(" \t\r\n\uFEFF"u8);
        if (trimmed.Length > 5 && trimmed[0] == '<')
        {
            var lower = Encoding.ASCII.GetString(trimmed[..Math.Min(trimmed.Length, 64)]).ToLowerInvariant();
            if (lower.StartsWith("<!doctype html", StringComparison.Ordinal) || lower.StartsWith("<html", StringComparison.Ordinal) || lower.StartsWith("<script", StringComparison.Ordinal))
            {
                return "text/html";
            }
        }

        return null;
    }

    private static List<string> ZipEntries(byte[] content)
    {
        var names = new List<string>();
        try
        {
            using var zip = new ZipArchive(new MemoryStream(content, writable: false), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                if (names.Count >= MaxArchiveEntries)
                {
                    break;
                }

                names.Add(entry.FullName);
            }
        }
        catch (InvalidDataException)
        {
        }
        catch (IOException)
        {
        }
        catch (ArgumentException)
        {
        }
        catch (NotSupportedException)
        {
        }

        return names;
    }

    private static IEnumerable<MimeEntity> BodyLeaves(MimeEntity root)
    {
        foreach (var e in Walk(root))
        {
            if (e.IsAttachment)
            {
                continue;
            }

            if ((e.Kind == MimeBodyKind.Leaf && e.ContentType.IsText && (e.ContentType.SubtypeIs("plain") || e.ContentType.SubtypeIs("html"))) ||
                (e.Kind == MimeBodyKind.Multipart && e.Children.Count == 0))
            {
                yield return e;
            }
        }
    }

    private static IEnumerable<MimeEntity> Walk(MimeEntity e)
    {
        yield return e;
        if (e.Kind == MimeBodyKind.Multipart && e.ContentType.SubtypeIs("alternative") && e.Children.Count > 1)
        {
            // One alternative is enough: the last one we can read (HTML over plain when both exist).
            var pick = e.Children.LastOrDefault(c => c.ContentType.IsText && c.Kind == MimeBodyKind.Leaf) ?? e.Children[^1];
            foreach (var d in Walk(pick))
            {
                yield return d;
            }

            yield break;
        }

        foreach (var c in e.Children)
        {
            foreach (var d in Walk(c))
            {
                yield return d;
            }
        }
    }
}
