using System.CommandLine;
using System.Globalization;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Bounces;
using Postern.Delivery.Dsn;
using Postern.Primitives;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;
using EnhancedStatusCode = Postern.Protocols.Smtp.EnhancedStatusCode;

namespace Postern.Host.Cli;

/// <summary>
/// <c>postern queue list|show|summary|retry|hold|release|delete</c>: the delivery queue as the admin sees it. The
/// server delivers; these commands only change what it will do next (due times, holds, deletions, bounces).
/// </summary>
internal static class QueueCommands
{
    /// <summary>The relay destination key prefix (docs/decisions/0005): <c>relay:DOMAIN</c>.</summary>
    public const string RelayPrefix = "relay:";

    /// <summary>What a DSN for a message deleted by an admin says.</summary>
    public const string DeletedDiagnostic = "deleted from the queue by an administrator";

    private const int PageSize = 1000;
    private const int ErrorWidth = 60;
    private static readonly string[] States = ["pending", "deferred", "held", "delivered", "failed"];

    /// <summary>RFC 3463 X.3.0: other or undefined mail system status (the message was taken out of the system).</summary>
    private static readonly EnhancedStatusCode DeletedStatus = new(5, 3, 0);

    public static Command Create(GlobalOptions globals) => Group("queue", "The delivery queue: list, show, summary, retry, hold, release, delete", globals,
        List(globals), Show(globals), Summary(globals), Retry(globals), Hold(globals), Release(globals), Delete(globals));

    private static Command List(GlobalOptions globals)
    {
        var domain = new Option<string?>("--domain") { Description = "Only messages with a recipient in this domain" };
        var state = Choice("--state", "Only messages with a recipient in this state", States);
        var olderThan = new Option<string?>("--older-than") { Description = "Only messages queued longer ago than this: 30m, 2h, 3d, 1w" };
        var limit = new Option<int?>("--limit") { Description = "At most this many messages (default: all)" };
        var command = Leaf("list", "List queued messages: id, age, size, sender, recipients by state, next attempt, last error", globals, async (parse, context, ct) =>
        {
            var now = DateTimeOffset.UtcNow;
            var max = parse.GetValue(limit);
            if (max is < 1)
            {
                throw new CliUsageException("limit", "--limit: must be at least 1");
            }

            var query = new QueueQuery(ParseState(CheckChoice(parse, state, States)))
            {
                Domain = parse.GetValue(domain) is { } d ? ParseDomainOption("domain", d).Ascii : null,
                CreatedBefore = parse.GetValue(olderThan) is { } age ? now - ParseAge("older-than", age) : null,
            };
            var messages = new List<QueuedMessage>();
            var more = false;
            await foreach (var m in AllAsync(context.Storage.Mail.Queue, query, ct).ConfigureAwait(false))
            {
                if (messages.Count == max)
                {
                    more = true;
                    break;
                }

                messages.Add(m);
            }

            var models = messages.Select(m => Summarize(m, now)).ToList();
            var recipients = models.Sum(m => m.Recipients);
            context.Write(new { messages = models, total = models.Count, recipients, more }, o =>
            {
                foreach (var m in models)
                {
                    o.WriteLine(string.Join("  ", m.QueueId, Age(now - m.CreatedAt), Size(m.Size), Sender(m.Sender), StatesText(m.States),
                        m.NextAttemptAt is { } next ? "next " + When(next, now) : "next -", Shorten(m.LastError) ?? "-"));
                }

                o.WriteLine($"{Plural(models.Count, "message")}, {Plural(recipients, "recipient")}{(more ? $" (the first {max}: there are more)" : string.Empty)}");
            });
            return ExitCodes.Ok;
        });
        command.Options.Add(domain);
        command.Options.Add(state);
        command.Options.Add(olderThan);
        command.Options.Add(limit);
        return command;
    }

    private static Command Show(GlobalOptions globals)
    {
        var id = new Argument<string>("id") { Description = "The queue id (as in '250 2.0.0 queued as ID')" };
        var command = Leaf("show", "Show a queued message: envelope, each recipient's state, and the delivery history", globals, async (parse, context, ct) =>
        {
            var queue = context.Storage.Mail.Queue;
            var message = await RequireAsync(queue, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var history = await queue.GetHistoryAsync(message.QueueId, ct).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            var model = new MessageDetail(
                message.QueueId,
                message.ReversePath,
                message.EnvelopeId,
                message.Return switch { DsnReturn.Full => "full", DsnReturn.Headers => "headers", _ => null },
                message.RequireTls,
                message.SmtpUtf8,
                message.CreatedAt,
                message.Size,
                message.Recipients.Select(r => new RecipientDetail(
                    r.Address,
                    r.DestinationKey,
                    StateName(r.State),
                    r.Attempts,
                    IsWaiting(r.State) ? r.NextAttemptAt : null,
                    r.LastError,
                    NotifyNames(r.Notify),
                    r.OriginalRecipient,
                    r.CompletedAt,
                    r.DelayWarned)).ToList(),
                history.Select(h => new AttemptDetail(h.Time, h.Recipient, StateName(h.Outcome), h.Detail)).ToList());
            context.Write(model, o =>
            {
                o.WriteLine($"queue id:   {model.QueueId}");
                o.WriteLine($"sender:     {Sender(model.Sender)}");
                o.WriteLine($"envid:      {model.EnvelopeId ?? "-"}");
                o.WriteLine($"ret:        {model.Ret ?? "-"}");
                o.WriteLine($"requiretls: {YesNo(model.RequireTls)}");
                o.WriteLine($"smtputf8:   {YesNo(model.SmtpUtf8)}");
                o.WriteLine($"created:    {Time(model.CreatedAt)} ({Age(now - model.CreatedAt)} ago)");
                o.WriteLine($"size:       {Size(model.Size)} ({model.Size.ToString(CultureInfo.InvariantCulture)} bytes)");
                o.WriteLine($"recipients: {model.Recipients.Count.ToString(CultureInfo.InvariantCulture)}");
                foreach (var r in model.Recipients)
                {
                    var next = r.NextAttemptAt is { } n ? $", next attempt {When(n, now)}" : string.Empty;
                    var done = r.CompletedAt is { } c ? $", at {Time(c)}" : string.Empty;
                    o.WriteLine($"  {r.Address}  {r.State}{done}, {Plural(r.Attempts, "attempt")}{next}{(r.DelayWarned ? ", delay warning sent" : string.Empty)}");
                    o.WriteLine($"    destination {r.Destination}, notify {(r.Notify.Count == 0 ? "default" : string.Join(",", r.Notify))}, orcpt {r.OriginalRecipient ?? "-"}");
                    if (r.LastError is not null)
                    {
                        o.WriteLine($"    last error: {r.LastError}");
                    }
                }

                o.WriteLine(model.History.Count == 0 ? "history:    no attempts yet" : "history:");
                foreach (var h in model.History)
                {
                    o.WriteLine($"  {Time(h.Time)}  {h.Recipient}  {h.Outcome}{(h.Detail is null ? string.Empty : "  " + h.Detail)}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(id);
        return command;
    }

    private static Command Summary(GlobalOptions globals)
    {
        var top = new Option<int?>("--top") { Description = "How many destinations to list (default 10)" };
        var command = Leaf("summary", "Recipients by state, and the destinations with the most mail waiting", globals, async (parse, context, ct) =>
        {
            var count = parse.GetValue(top) ?? 10;
            if (count < 0)
            {
                throw new CliUsageException("top", "--top: must be 0 or more");
            }

            var queue = context.Storage.Mail.Queue;
            var now = DateTimeOffset.UtcNow;
            var byState = await queue.CountByStateAsync(ct).ConfigureAwait(false);
            var destinations = new Dictionary<string, DestinationTally>(StringComparer.Ordinal);
            var messages = 0;
            DateTimeOffset? oldest = null;
            await foreach (var m in AllAsync(queue, new QueueQuery(), ct).ConfigureAwait(false))
            {
                messages++;
                foreach (var r in m.Recipients.Where(r => IsUnfinished(r.State)))
                {
                    if (!destinations.TryGetValue(r.DestinationKey, out var tally))
                    {
                        destinations[r.DestinationKey] = tally = new DestinationTally();
                    }

                    tally.Add(r.State, m.CreatedAt);
                    oldest = oldest is null || m.CreatedAt < oldest ? m.CreatedAt : oldest;
                }
            }

            var topModels = new List<DestinationModel>();
            foreach (var (key, tally) in destinations.OrderByDescending(d => d.Value.Total).ThenBy(d => d.Key, StringComparer.Ordinal).Take(count))
            {
                var domainName = key.StartsWith(RelayPrefix, StringComparison.Ordinal) ? key[RelayPrefix.Length..] : key;
                var domain = await context.Store.FindDomainAsync(domainName, ct).ConfigureAwait(false);
                topModels.Add(new DestinationModel(key, tally.Total, tally.Pending, tally.Deferred, tally.Held, tally.Oldest, domain is not null && DeliverySettings.Read(domain.SettingsJson).Hold));
            }

            var counts = States.ToDictionary(s => s, s => byState.TryGetValue(ParseState(s)!.Value, out var n) ? n : 0, StringComparer.Ordinal);
            context.Write(new { recipients = counts, messages, oldest, destinations = destinations.Count, top = topModels }, o =>
            {
                foreach (var (s, n) in counts)
                {
                    o.WriteLine($"{s + ":",-11}{n.ToString(CultureInfo.InvariantCulture)}");
                }

                o.WriteLine($"{Plural(messages, "message")} in the queue{(oldest is { } t ? $", the oldest waiting {Age(now - t)}" : string.Empty)}");
                if (topModels.Count == 0)
                {
                    o.WriteLine("no mail waiting for delivery");
                    return;
                }

                o.WriteLine($"destinations with mail waiting: {destinations.Count.ToString(CultureInfo.InvariantCulture)}{(destinations.Count > topModels.Count ? $" (the top {topModels.Count.ToString(CultureInfo.InvariantCulture)})" : string.Empty)}");
                var width = topModels.Max(d => d.Destination.Length);
                foreach (var d in topModels)
                {
                    var parts = new List<string>();
                    AddCount(parts, d.Pending, "pending");
                    AddCount(parts, d.Deferred, "deferred");
                    AddCount(parts, d.Held, "held");
                    o.WriteLine($"  {d.Destination.PadRight(width)}  {d.Recipients.ToString(CultureInfo.InvariantCulture),6}  ({string.Join(", ", parts)}), oldest {Age(now - d.Oldest)}{(d.DomainOnHold ? ", domain on hold" : string.Empty)}");
                }
            });
            return ExitCodes.Ok;
        });
        command.Options.Add(top);
        return command;
    }

    private static Command Retry(GlobalOptions globals)
    {
        var id = new Argument<string?>("id") { Description = "The queue id", Arity = ArgumentArity.ZeroOrOne };
        var domain = new Option<string?>("--domain") { Description = "Every message waiting for this domain (its internet and relay destinations)" };
        var all = new Option<bool>("--all") { Description = "Everything waiting in the queue" };
        var command = Leaf("retry", "Make waiting recipients due now: of one message, of a domain, or all (held recipients stay held)", globals, async (parse, context, ct) =>
        {
            var queue = context.Storage.Mail.Queue;
            var now = DateTimeOffset.UtcNow;
            var target = One(parse.GetValue(id), parse.GetValue(domain), parse.GetValue(all));
            int made;
            var held = 0;
            string what;
            if (target.Id is { } queueId)
            {
                var message = await RequireAsync(queue, queueId, ct).ConfigureAwait(false);
                made = await queue.RetryNowAsync(message.QueueId, now, ct).ConfigureAwait(false);
                held = message.Recipients.Count(r => r.State == RecipientState.Held);
                what = message.QueueId;
            }
            else if (target.Domain is { } d)
            {
                made = await queue.RetryDestinationNowAsync(d.Ascii, now, ct).ConfigureAwait(false)
                    + await queue.RetryDestinationNowAsync(RelayPrefix + d.Ascii, now, ct).ConfigureAwait(false);
                what = d.Ascii;
            }
            else
            {
                // One write per destination rather than per message: the keys of everything waiting, then each made due.
                var keys = new SortedSet<string>(StringComparer.Ordinal);
                await foreach (var m in AllAsync(queue, new QueueQuery(), ct).ConfigureAwait(false))
                {
                    keys.UnionWith(m.Recipients.Where(r => IsWaiting(r.State)).Select(r => r.DestinationKey));
                }

                made = 0;
                foreach (var key in keys)
                {
                    made += await queue.RetryDestinationNowAsync(key, now, ct).ConfigureAwait(false);
                }

                what = "the queue";
            }

            context.Write(new { retried = what, recipients = made, held }, o =>
            {
                o.WriteLine($"{what}: {Plural(made, "recipient")} made due now{(made == 0 ? " (nothing was waiting for a later attempt)" : string.Empty)}");
                if (held > 0)
                {
                    o.WriteLine($"{Plural(held, "recipient")} on hold: 'postern queue release {what}' makes them due");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(id);
        command.Options.Add(domain);
        command.Options.Add(all);
        return command;
    }

    private static Command Hold(GlobalOptions globals)
    {
        var id = new Argument<string>("id") { Description = "The queue id" };
        var command = Leaf("hold", "Put a message on hold: the server keeps it and does not deliver it until it is released", globals, async (parse, context, ct) =>
        {
            var queue = context.Storage.Mail.Queue;
            var message = await RequireAsync(queue, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var held = await queue.HoldAsync(message.QueueId, DateTimeOffset.UtcNow, ct).ConfigureAwait(false);
            var after = await queue.GetAsync(message.QueueId, ct).ConfigureAwait(false) ?? message;
            var inFlight = after.Recipients.Count(r => IsWaiting(r.State));
            context.Write(new { queueId = message.QueueId, held, stillBeingDelivered = inFlight }, o =>
            {
                o.WriteLine($"{message.QueueId}: {Plural(held, "recipient")} put on hold");
                if (inFlight > 0)
                {
                    o.WriteLine($"{Plural(inFlight, "recipient")} not held: being delivered right now (try again in a moment)");
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(id);
        return command;
    }

    private static Command Release(GlobalOptions globals)
    {
        var id = new Argument<string>("id") { Description = "The queue id" };
        var command = Leaf("release", "Release a held message: its held recipients become due now", globals, async (parse, context, ct) =>
        {
            var queue = context.Storage.Mail.Queue;
            var message = await RequireAsync(queue, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var released = await queue.ReleaseAsync(message.QueueId, DateTimeOffset.UtcNow, ct).ConfigureAwait(false);
            context.Write(new { queueId = message.QueueId, released }, o =>
                o.WriteLine($"{message.QueueId}: {Plural(released, "recipient")} released{(released == 0 ? " (none was on hold)" : ", due now")}"));
            return ExitCodes.Ok;
        });
        command.Arguments.Add(id);
        return command;
    }

    private static Command Delete(GlobalOptions globals)
    {
        var id = new Argument<string?>("id") { Description = "The queue id", Arity = ArgumentArity.ZeroOrOne };
        var domain = new Option<string?>("--domain") { Description = "Every message whose waiting recipients are all in this domain (needs --yes)" };
        var bounce = new Option<bool>("--bounce") { Description = "First send the sender a delivery status notification (failed) for the recipients not yet delivered" };
        var yes = new Option<bool>("--yes") { Description = "Really delete everything queued to the domain" };
        var command = Leaf("delete", "Delete a message from the queue, or everything queued to a domain; --bounce tells the sender first", globals, async (parse, context, ct) =>
        {
            var queue = context.Storage.Mail.Queue;
            var target = One(parse.GetValue(id), parse.GetValue(domain), all: false);
            var sendBounce = parse.GetValue(bounce);
            var sender = new BounceSender(queue, context.Storage.Mail.Blobs, new BounceOptions { ReportingMta = context.Config.Hostname });
            var results = new List<DeletedModel>();
            var skipped = new List<string>();
            if (target.Id is { } queueId)
            {
                var message = await RequireAsync(queue, queueId, ct).ConfigureAwait(false);
                results.Add(await DeleteOneAsync(queue, sender, message, sendBounce, ct).ConfigureAwait(false));
            }
            else
            {
                var d = target.Domain!;
                var candidates = new List<QueuedMessage>();
                await foreach (var m in AllAsync(queue, new QueueQuery { Domain = d.Ascii }, ct).ConfigureAwait(false))
                {
                    var waiting = m.Recipients.Where(r => IsUnfinished(r.State)).ToList();
                    if (waiting.Count == 0)
                    {
                        continue;
                    }

                    if (waiting.All(r => InDomain(r, d)))
                    {
                        candidates.Add(m);
                    }
                    else if (waiting.Any(r => InDomain(r, d)))
                    {
                        skipped.Add(m.QueueId);
                    }
                }

                var recipients = candidates.Sum(m => m.Recipients.Count(r => IsUnfinished(r.State)));
                if (!parse.GetValue(yes))
                {
                    var also = skipped.Count > 0 ? $" ({Plural(skipped.Count, "message")} also waiting for other domains would be left)" : string.Empty;
                    throw NeedsYes($"this would delete {Plural(candidates.Count, "message")} with {Plural(recipients, "recipient")} waiting for {d.Ascii}"
                        + (sendBounce ? ", bouncing them to their senders" : string.Empty) + also);
                }

                foreach (var m in candidates)
                {
                    results.Add(await DeleteOneAsync(queue, sender, m, sendBounce, ct).ConfigureAwait(false));
                }
            }

            context.Write(new { deleted = results.Where(r => r.Deleted).ToList(), gone = results.Where(r => !r.Deleted).Select(r => r.QueueId).ToList(), leftMixed = skipped }, o =>
            {
                foreach (var r in results)
                {
                    var bounced = r.BounceQueueId is { } b ? $"; bounce {b} queued to {Sender(r.Sender)} for {Plural(r.Bounced, "recipient")}"
                        : r.NoBounceReason is { } why ? $"; no bounce: {why}" : string.Empty;
                    o.WriteLine(r.Deleted
                        ? $"deleted {r.QueueId} ({Plural(r.Waiting, "recipient")} not delivered){bounced}"
                        : $"{r.QueueId}: already gone from the queue{bounced}");
                }

                if (target.Domain is { } d)
                {
                    o.WriteLine($"{Plural(results.Count(r => r.Deleted), "message")} deleted for {d.Ascii}");
                    if (skipped.Count > 0)
                    {
                        o.WriteLine($"left in the queue ({Plural(skipped.Count, "message")} also waiting for other domains; delete them by id): {string.Join(' ', skipped)}");
                    }
                }
            });
            return ExitCodes.Ok;
        });
        command.Arguments.Add(id);
        command.Options.Add(domain);
        command.Options.Add(bounce);
        command.Options.Add(yes);
        return command;
    }

    /// <summary>Queues the bounce (when asked and due), then deletes the message.</summary>
    private static async Task<DeletedModel> DeleteOneAsync(IQueueStore queue, BounceSender sender, QueuedMessage message, bool bounce, CancellationToken ct)
    {
        var waiting = message.Recipients.Where(r => IsUnfinished(r.State)).ToList();
        string? bounceId = null;
        string? noBounce = null;
        var bounced = 0;
        if (bounce)
        {
            // RFC 3461 §4.1: NOTIFY without FAILURE (or NEVER) asks for no failure notice; no NOTIFY means the default (failures).
            var notify = waiting.Where(r => r.Notify == DsnNotify.None || r.Notify.HasFlag(DsnNotify.Failure)).ToList();
            if (message.ReversePath.Length == 0)
            {
                noBounce = "the sender is the null sender";
            }
            else if (waiting.Count == 0)
            {
                noBounce = "no recipient was still waiting";
            }
            else if (notify.Count == 0)
            {
                noBounce = "the recipients asked for no failure notice (NOTIFY)";
            }
            else
            {
                var history = await queue.GetHistoryAsync(message.QueueId, ct).ConfigureAwait(false);
                var dsn = notify.Select(r => ToDsn(r, history)).ToList();
                bounceId = await sender.SendAsync(message, dsn, ct).ConfigureAwait(false);
                bounced = bounceId is null ? 0 : dsn.Count;
                noBounce = bounceId is null ? "the sender's address cannot receive one" : null;
            }
        }

        var deleted = await queue.DeleteAsync(message.QueueId, ct).ConfigureAwait(false);
        return new DeletedModel(message.QueueId, message.ReversePath, deleted, waiting.Count, bounceId, bounced, noBounce);
    }

    private static DsnRecipient ToDsn(QueuedRecipient r, IReadOnlyList<DeliveryAttemptRecord> history) =>
        DsnRecipient.FromQueued(r, DsnAction.Failed) with
        {
            Status = DeletedStatus,
            Diagnostic = DeletedDiagnostic,
            LastAttemptDate = history.LastOrDefault(h => h.RecipientId == r.RecipientId)?.Time,
        };

    /// <summary>Every message matching <paramref name="query"/>, page by page.</summary>
    private static async IAsyncEnumerable<QueuedMessage> AllAsync(IQueueStore queue, QueueQuery query, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var page = query with { Limit = PageSize };
        while (true)
        {
            var result = await queue.ListAsync(page, ct).ConfigureAwait(false);
            foreach (var m in result.Messages)
            {
                yield return m;
            }

            if (result.NextAfterQueueId is null)
            {
                yield break;
            }

            page = page with { AfterQueueId = result.NextAfterQueueId };
        }
    }

    private static async Task<QueuedMessage> RequireAsync(IQueueStore queue, string id, CancellationToken ct)
    {
        var text = id.Trim();
        return (text.Length == 0 ? null : await queue.GetAsync(text, ct).ConfigureAwait(false))
            ?? throw new DirectoryObjectNotFoundException("id", $"there is no message '{text}' in the queue (delivered and finished messages leave it; see 'postern queue list')");
    }

    /// <summary>Exactly one of a queue id, --domain or --all.</summary>
    private static (string? Id, DomainName? Domain) One(string? id, string? domain, bool all)
    {
        var given = (id is null ? 0 : 1) + (domain is null ? 0 : 1) + (all ? 1 : 0);
        if (given != 1)
        {
            throw new CliUsageException("id", given == 0 ? "give a queue id, --domain DOMAIN or --all" : "give only one of a queue id, --domain and --all");
        }

        return (id, domain is null ? null : ParseDomainOption("domain", domain));
    }

    private static DomainName ParseDomainOption(string field, string text) =>
        DomainName.TryParse(text.Trim().TrimEnd('.'), out var d, out var error) ? d! : throw new CliUsageException(field, $"'{text}' is not a domain name ({error})");

    /// <summary>Parses <c>30m</c>, <c>2h</c>, <c>3d</c>, <c>1w</c>, <c>90s</c>.</summary>
    internal static TimeSpan ParseAge(string field, string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.Length >= 2 && double.TryParse(t[..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n >= 0)
        {
            TimeSpan? span = t[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                'w' => TimeSpan.FromDays(n * 7),
                _ => null,
            };
            if (span is { } s && s <= TimeSpan.FromDays(3650))
            {
                return s;
            }
        }

        throw new CliUsageException(field, $"'{text}' is not an age: write a number and a unit, e.g. 30m, 2h, 3d or 1w");
    }

    private static RecipientState? ParseState(string? name) => name switch
    {
        "pending" => RecipientState.Pending,
        "deferred" => RecipientState.Deferred,
        "held" => RecipientState.Held,
        "delivered" => RecipientState.Delivered,
        "failed" => RecipientState.Failed,
        _ => null,
    };

    private static string StateName(RecipientState state) => state switch
    {
        RecipientState.Pending => "pending",
        RecipientState.Deferred => "deferred",
        RecipientState.Held => "held",
        RecipientState.Delivered => "delivered",
        RecipientState.Failed => "failed",
        _ => state.ToString().ToLowerInvariant(),
    };

    /// <summary>Waiting for an attempt (pending or deferred).</summary>
    private static bool IsWaiting(RecipientState state) => state is RecipientState.Pending or RecipientState.Deferred;

    /// <summary>Not delivered and not failed yet: waiting or held.</summary>
    private static bool IsUnfinished(RecipientState state) => IsWaiting(state) || state == RecipientState.Held;

    private static bool InDomain(QueuedRecipient r, DomainName domain) =>
        string.Equals(r.Domain, domain.Ascii, StringComparison.OrdinalIgnoreCase) || string.Equals(r.Domain, domain.Unicode, StringComparison.OrdinalIgnoreCase);

    private static List<string> NotifyNames(DsnNotify notify)
    {
        var names = new List<string>();
        if (notify.HasFlag(DsnNotify.Never))
        {
            names.Add("never");
        }

        if (notify.HasFlag(DsnNotify.Success))
        {
            names.Add("success");
        }

        if (notify.HasFlag(DsnNotify.Failure))
        {
            names.Add("failure");
        }

        if (notify.HasFlag(DsnNotify.Delay))
        {
            names.Add("delay");
        }

        return names;
    }

    private static MessageSummary Summarize(QueuedMessage m, DateTimeOffset now)
    {
        var states = m.Recipients.GroupBy(r => r.State).OrderBy(g => Array.IndexOf(States, StateName(g.Key)))
            .ToDictionary(g => StateName(g.Key), g => g.Count(), StringComparer.Ordinal);
        var waiting = m.Recipients.Where(r => IsWaiting(r.State)).ToList();
        DateTimeOffset? next = waiting.Count == 0 ? null : waiting.Min(r => r.NextAttemptAt);
        var error = m.Recipients.Where(r => r.State != RecipientState.Delivered && r.LastError is not null).Select(r => r.LastError).FirstOrDefault();
        return new MessageSummary(m.QueueId, m.ReversePath, m.CreatedAt, (long)(now - m.CreatedAt).TotalSeconds, m.Size, m.Recipients.Count, states, next, error);
    }

    private static string StatesText(IReadOnlyDictionary<string, int> states) =>
        string.Join(", ", states.Select(s => $"{s.Value.ToString(CultureInfo.InvariantCulture)} {s.Key}"));

    private static void AddCount(List<string> parts, int n, string what)
    {
        if (n > 0)
        {
            parts.Add($"{n.ToString(CultureInfo.InvariantCulture)} {what}");
        }
    }

    private static string Sender(string reversePath) => $"<{reversePath}>";

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>"now" when due, else "in 14m (2025-01-02 10:00:00Z)".</summary>
    private static string When(DateTimeOffset time, DateTimeOffset now) => time <= now ? "now" : $"in {Age(time - now)} ({Time(time)})";

    /// <summary>A short age: 45s, 12m, 3h, 2d.</summary>
    internal static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero;
        }

        return age.TotalMinutes < 1 ? $"{(int)age.TotalSeconds}s"
            : age.TotalHours < 1 ? $"{(int)age.TotalMinutes}m"
            : age.TotalDays < 2 ? $"{(int)age.TotalHours}h"
            : $"{(int)age.TotalDays}d";
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes.ToString(CultureInfo.InvariantCulture)} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KB",
        _ => (bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture) + " MB",
    };

    private static string? Shorten(string? error)
    {
        if (error is null)
        {
            return null;
        }

        var oneLine = string.Join(' ', error.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return oneLine.Length <= ErrorWidth ? oneLine : oneLine[..(ErrorWidth - 3)] + "...";
    }

    internal sealed record MessageSummary(
        string QueueId,
        string Sender,
        DateTimeOffset CreatedAt,
        long AgeSeconds,
        long Size,
        int Recipients,
        IReadOnlyDictionary<string, int> States,
        DateTimeOffset? NextAttemptAt,
        string? LastError);

    internal sealed record RecipientDetail(
        string Address,
        string Destination,
        string State,
        int Attempts,
        DateTimeOffset? NextAttemptAt,
        string? LastError,
        IReadOnlyList<string> Notify,
        string? OriginalRecipient,
        DateTimeOffset? CompletedAt,
        bool DelayWarned);

    internal sealed record AttemptDetail(DateTimeOffset Time, string Recipient, string Outcome, string? Detail);

    internal sealed record MessageDetail(
        string QueueId,
        string Sender,
        string? EnvelopeId,
        string? Ret,
        bool RequireTls,
        bool SmtpUtf8,
        DateTimeOffset CreatedAt,
        long Size,
        IReadOnlyList<RecipientDetail> Recipients,
        IReadOnlyList<AttemptDetail> History);

    internal sealed record DestinationModel(string Destination, int Recipients, int Pending, int Deferred, int Held, DateTimeOffset Oldest, bool DomainOnHold);

    internal sealed record DeletedModel(string QueueId, string Sender, bool Deleted, int Waiting, string? BounceQueueId, int Bounced, string? NoBounceReason);

    private sealed class DestinationTally
    {
        public int Pending { get; private set; }

        public int Deferred { get; private set; }

        public int Held { get; private set; }

        public int Total => Pending + Deferred + Held;

        public DateTimeOffset Oldest { get; private set; } = DateTimeOffset.MaxValue;

        public void Add(RecipientState state, DateTimeOffset created)
        {
            switch (state)
            {
                case RecipientState.Pending:
                    Pending++;
                    break;
                case RecipientState.Deferred:
                    Deferred++;
                    break;
                default:
                    Held++;
                    break;
            }

            if (created < Oldest)
            {
                Oldest = created;
            }
        }
    }
}
