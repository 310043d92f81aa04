using System.Text.Json;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;
using Postern.Mime.Views;

namespace Postern.Server.Imap;

/// <summary>
/// Records moves into and out of Junk in the message log (verdict <c>spam</c> or <c>ham</c>, action
/// <c>user-trained</c>): admins see them in message search, and the filters read them as training signals.
/// </summary>
public sealed class MessageLogTrainingSink(MessageLogWriter log, TimeProvider time) : IJunkTrainingSink
{
    public const string Action = "user-trained";

    public ValueTask RecordAsync(string user, long accountId, StoredMessage message, bool spam, CancellationToken cancellationToken)
    {
        var summary = MessageSummary.FromJson(message.Summary);
        var detail = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["account"] = accountId,
            ["blob"] = message.Blob.Hex,
            ["folder"] = message.FolderId,
            ["uid"] = message.Uid,
        });
        log.Enqueue(new MessageLogRecord(time.GetUtcNow(), null, summary?.MessageId, null, null, null, user, message.Size,
            spam ? "spam" : "ham", Action, DetailJson: detail));
        return ValueTask.CompletedTask;
    }
}
