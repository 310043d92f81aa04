using Postern.Core.IO;
using Postern.Core.Storage.Blobs;

namespace Postern.Core.Storage.Mailboxes;

/// <summary>Reads a stored message as the client sees it: its per-recipient header prefix, then the shared blob.</summary>
public static class MessageContent
{
    /// <summary>
    /// Opens the whole message (exactly <see cref="StoredMessage.Size"/> bytes), or null when its blob is gone.
    /// </summary>
    public static async Task<Stream?> OpenAsync(this IBlobStore blobs, StoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(message);
        var body = await blobs.OpenReadAsync(message.Blob, cancellationToken).ConfigureAwait(false);
        return body is null ? null : new PrefixedReadStream(message.HeaderPrefix, body);
    }
}
