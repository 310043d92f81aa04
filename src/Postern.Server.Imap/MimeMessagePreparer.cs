using Postern.Mime;
using Postern.Mime.Views;

namespace Postern.Server.Imap;

/// <summary>Parses an appended message once: the summary FETCH and SORT read, and the text the full-text index holds.</summary>
public sealed class MimeMessagePreparer : IMessagePreparer
{
    public (string? Summary, string? SearchText) Prepare(ReadOnlyMemory<byte> message)
    {
        var parsed = MimeMessage.Parse(message);
        return (MessageSummary.Build(parsed).ToJson(), MessageSearchText.Build(parsed));
    }
}
