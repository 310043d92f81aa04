using System.CommandLine;
using Postern.Core.Storage;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Mailboxes;
using Postern.Primitives;

namespace Postern.Host.Cli;

/// <summary>
/// <c>postern deliver</c>: a local delivery agent (like sendmail's or Dovecot's LDA) that reads one
/// message on standard input and stores it for the given recipients; the exit codes are sendmail's
/// sysexits so that procmail, fetchmail and MTAs treat failures right.
/// </summary>
public static class DeliverCommand
{
    /// <summary>sysexits.h: the recipient does not exist.</summary>
    public const int NoUser = 67;

    /// <summary>sysexits.h: a temporary failure (disk full, quota); the sender should retry.</summary>
    public const int TempFail = 75;

    /// <summary>sysexits.h: the input was not a message.</summary>
    public const int DataError = 65;

    public const long MaxMessageBytes = 100L * 1024 * 1024;

    public static Command Create(GlobalOptions globals)
    {
        var from = new Option<string>("--from", "-f") { Description = "Envelope sender (empty for the null sender <>)", DefaultValueFactory = _ => string.Empty };
        var to = new Option<string[]>("--to", "-t") { Description = "Recipient (repeatable)", Required = true, AllowMultipleArgumentsPerToken = false };
        var command = new Command("deliver", "Store the message read on standard input into local mailboxes (exit codes: 0, 67 no such user, 75 try later, 65 bad input)");
        command.Options.Add(from);
        command.Options.Add(to);
        command.SetAction((parse, ct) => globals.RunAsync(parse, async (context, token) =>
        {
            var recipients = new List<EmailAddress>();
            foreach (var r in parse.GetValue(to) ?? [])
            {
                if (!EmailAddress.TryParse(r, out var address, out var error))
                {
                    throw new CliUsageException("to", error!);
                }

                recipients.Add(address!);
            }

            var sender = parse.GetValue(from)!.Trim().Trim('<', '>');
            if (sender.Length > 0 && !EmailAddress.TryParse(sender, out _, out var senderError))
            {
                throw new CliUsageException("from", senderError!);
            }

            var spool = new MemoryStream();
            await using (var stdin = Console.OpenStandardInput())
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await stdin.ReadAsync(buffer, token).ConfigureAwait(false)) > 0)
                {
                    if (spool.Length + read > MaxMessageBytes)
                    {
                        context.Error.WriteLine($"postern: deliver: the message is larger than {MaxMessageBytes} bytes");
                        return DataError;
                    }

                    spool.Write(buffer, 0, read);
                }
            }

            if (spool.Length == 0)
            {
                context.Error.WriteLine("postern: deliver: no message on standard input");
                return DataError;
            }

            spool.Position = 0;
            var mail = context.Storage.Mail;
            var guard = new DiskSpaceGuard(DriveInfoDiskSpaceProbe.Instance, context.Config.DataFolder, context.Config.Options.Storage.MinimumFreeSpaceMegabytes * 1024 * 1024);
            var delivery = new LocalDeliveryService(context.Resolver, context.Store, mail.Blobs, mail.Mailboxes, new LocalDeliveryOptions(context.Config.Hostname), guard);
            Core.Storage.Blobs.BlobInfo blob;
            try
            {
                blob = await delivery.SpoolAsync(spool, spool.Length, token).ConfigureAwait(false);
            }
            catch (StoreFullException e)
            {
                context.Error.WriteLine($"postern: deliver: {e.Message}");
                return TempFail;
            }

            var envelope = new DeliveryEnvelope(sender, "LOCAL");
            var exit = ExitCodes.Ok;
            var results = new List<DeliveredRecipient>();
            var remote = new List<NewQueueRecipient>();
            foreach (var recipient in recipients)
            {
                var result = await delivery.DeliverAsync(blob, envelope, recipient, token).ConfigureAwait(false);
                results.Add(new DeliveredRecipient(recipient.ToString(), result.Status, result.Detail, result.Copies.Count));
                remote.AddRange(result.QueueRecipients());
                exit = Math.Max(exit, result.Status switch
                {
                    LocalDeliveryStatus.Delivered => ExitCodes.Ok,
                    LocalDeliveryStatus.StorageFull or LocalDeliveryStatus.OverQuota => TempFail,
                    _ => NoUser,
                });
            }

            string? queueId = null;
            if (remote.Count > 0)
            {
                queueId = await mail.Queue.EnqueueAsync(new NewQueuedMessage(sender, remote, blob.Id, blob.Length), token).ConfigureAwait(false);
            }

            context.Write(new { results, queuedForRemote = remote.Count, queueId }, o =>
            {
                foreach (var r in results)
                {
                    o.WriteLine($"{r.Recipient}: {r.Status} ({r.Detail})");
                }

                if (queueId is not null)
                {
                    o.WriteLine($"{remote.Count} remote recipient(s) queued as {queueId}");
                }
            });

            // The message log is written after the acknowledgement (the report above), in a batch.
            await using (var log = new MessageLogWriter(mail.MessageLog))
            {
                var now = DateTimeOffset.UtcNow;
                foreach (var r in results)
                {
                    log.Enqueue(new MessageLogRecord(now, queueId, null, null, null, sender, r.Recipient, blob.Length, "unchecked",
                        r.Status == LocalDeliveryStatus.Delivered ? "delivered" : "refused", DeliveryOutcome: r.Detail));
                }

                await log.FlushAsync(token).ConfigureAwait(false);
            }

            return exit;
        }, ct));
        return command;
    }
}

/// <summary>One line of <c>postern deliver</c>'s report.</summary>
public sealed record DeliveredRecipient(string Recipient, LocalDeliveryStatus Status, string Detail, int Stored);
