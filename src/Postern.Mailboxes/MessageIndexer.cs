using Postern.Core.Storage.Blobs;
using Postern.Mime;
using Postern.Mime.Views;

namespace Postern.Mailboxes;

/// <summary>What a mailbox store keeps beside a message so IMAP never re-parses it: the summary JSON and the full-text search text.</summary>
public sealed record MessageIndex(string Summary, string SearchText);

/// <summary>Builds <see cref="MessageIndex"/> from a message's bytes: one parse for both.</summary>
public static class MessageIndexer
{
    /// <summary>Messages larger than this are stored without an index (IMAP computes the summary on first use).</summary>
    public const long DefaultMaxIndexedBytes = 64L * 1024 * 1024;

    /// <summary>The summary and search text of a whole message. Never throws on any bytes.</summary>
    public static MessageIndex Build(ReadOnlyMemory<byte> message)
    {
        var parsed = MimeParser.Parse(message);
        return new MessageIndex(MessageSummary.Build(parsed).ToJson(), MessageSearchText.Build(parsed));
    }

    /// <summary>
    /// Reads the blob once and indexes it; null when it is missing, larger than <paramref name="maxBytes"/>, or cannot be
    /// read (the message is then stored without an index rather than not at all).
    /// </summary>
    public static async Task<MessageIndex?> ReadAsync(IBlobStore blobs, BlobInfo blob, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(blob);
        if (blob.Length > maxBytes || blob.Length > Array.MaxLength)
        {
            return null;
        }

        try
        {
            await using var stream = await blobs.OpenReadAsync(blob.Id, cancellationToken).ConfigureAwait(false);
            if (stream is null)
            {
                return null;
            }

            var bytes = new byte[blob.Length];
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            return Build(bytes);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception)
        {
            return null;
        }
    }
}
