using Postern.Mime.Headers;
using Postern.Mime.Writing;

namespace Postern.Mime;

/// <summary>A parsed message: the root <see cref="MimeEntity"/> plus the fields most callers want, decoded on demand.</summary>
public sealed class MimeMessage
{
    internal MimeMessage(MimeEntity root, MimeParserOptions options)
    {
        Root = root;
        Options = options;
    }

    public MimeEntity Root { get; }

    public MimeParserOptions Options { get; }

    public HeaderList Headers => Root.Headers;

    public string? Subject => Headers["Subject"];

    public AddressList From => Addresses("From");

    public AddressList Sender => Addresses("Sender");

    public AddressList ReplyTo => Addresses("Reply-To");

    public AddressList To => Addresses("To");

    public AddressList Cc => Addresses("Cc");

    public AddressList Bcc => Addresses("Bcc");

    /// <summary>The Date field; <see cref="MimeDate.IsValid"/> false when it is missing or unreadable (never invented).</summary>
    public MimeDate Date
    {
        get
        {
            var f = Headers.GetField("Date");
            return f is null ? MimeDate.Missing : DateParser.Parse(f.Value.Value);
        }
    }

    public string? MessageId => MessageIds.Parse(Headers.GetField("Message-ID")?.Value ?? string.Empty).FirstOrDefault();

    public IReadOnlyList<string> InReplyTo => MessageIds.Parse(Headers.GetField("In-Reply-To")?.Value ?? string.Empty);

    public IReadOnlyList<string> References => MessageIds.Parse(Headers.GetField("References")?.Value ?? string.Empty);

    /// <summary>Every entity, depth first.</summary>
    public IEnumerable<MimeEntity> Entities => Root.DescendantsAndSelf();

    /// <summary>Every defect in the tree.</summary>
    public IEnumerable<MimeDefectRecord> AllDefects => Entities.SelectMany(e => e.Defects);

    /// <summary>Text/plain parts that form the message text (not attachments), outside nested messages.</summary>
    public IEnumerable<MimeEntity> TextParts => BodyParts("plain");

    /// <summary>Text/html parts that form the message text.</summary>
    public IEnumerable<MimeEntity> HtmlParts => BodyParts("html");

    /// <summary>The first text/plain body, decoded.</summary>
    public string? TextBody => TextParts.FirstOrDefault()?.GetText();

    /// <summary>The first text/html body, decoded.</summary>
    public string? HtmlBody => HtmlParts.FirstOrDefault()?.GetText();

    /// <summary>Attachments (named or non-text leaves, and nested messages), not descending into nested messages.</summary>
    public IEnumerable<MimeEntity> Attachments => Walk(Root).Where(e => e.IsAttachment);

    private IEnumerable<MimeEntity> BodyParts(string subtype) =>
        Walk(Root).Where(e => ((e.Kind == MimeBodyKind.Leaf && e.ContentType.Is("text", subtype)) ||
            (subtype == "plain" && e.Kind == MimeBodyKind.Multipart && e.Children.Count == 0)) && !e.IsAttachment);

    private static IEnumerable<MimeEntity> Walk(MimeEntity e)
    {
        yield return e;
        foreach (var c in e.Children)
        {
            foreach (var d in Walk(c))
            {
                yield return d;
            }
        }
    }

    private AddressList Addresses(string name)
    {
        var f = Headers.GetField(name);
        return f is null ? AddressList.Empty : AddressParser.Parse(f.Value.RawValue.Span);
    }

    /// <summary>Serialises the tree (byte-identical when unchanged).</summary>
    public byte[] ToArray() => MimeWriter.ToArray(Root);

    /// <summary>Serialises the tree to a stream.</summary>
    public void WriteTo(Stream stream) => MimeWriter.Write(Root, stream);

    public static MimeMessage Parse(ReadOnlyMemory<byte> data, MimeParserOptions? options = null) => MimeParser.Parse(data, options);
}
