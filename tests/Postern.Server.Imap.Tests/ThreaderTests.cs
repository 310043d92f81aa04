namespace Postern.Server.Imap.Tests;

public sealed class ThreaderTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private static ThreadMessage M(int seq, string? id, string refs = "", string subject = "s", int minutes = -1, string inReplyTo = "") =>
        new(seq, seq * 10, id, refs.Split(' ', StringSplitOptions.RemoveEmptyEntries), inReplyTo.Split(' ', StringSplitOptions.RemoveEmptyEntries), subject,
            Start.AddMinutes(minutes < 0 ? seq : minutes));

    private static string References(params ThreadMessage[] messages) => MessageThreader.Format(MessageThreader.References(messages), uid: false);

    [Fact]
    public void A_chain_of_single_replies_is_one_flat_list()
    {
        Assert.Equal("(1 2 3)", References(M(1, "a"), M(2, "b", "a"), M(3, "c", "a b")));
        Assert.Equal("(10 20 30)", MessageThreader.Format(MessageThreader.References([M(1, "a"), M(2, "b", "a"), M(3, "c", "a b")]), uid: true));
    }

    [Fact]
    public void Siblings_are_parenthesised_and_ordered_by_date()
    {
        Assert.Equal("(1 (3)(2 4))", References(M(1, "a", subject: "x"), M(2, "b", "a", minutes: 50), M(3, "c", "a", minutes: 10), M(4, "d", "a b", minutes: 60)));
    }

    [Fact]
    public void In_Reply_To_is_used_when_References_is_missing()
    {
        Assert.Equal("(1 2)", References(M(1, "a"), M(2, "b", inReplyTo: "a")));
    }

    [Fact]
    public void A_missing_parent_with_several_replies_stays_as_a_dummy_at_the_top()
    {
        Assert.Equal("((1)(2))", References(M(1, "b", "gone"), M(2, "c", "gone")));

        // a single reply to a missing message is promoted
        Assert.Equal("(1)", References(M(1, "b", "gone")));

        // a missing message in the middle of a chain is skipped
        Assert.Equal("(1 2)", References(M(1, "a"), M(2, "c", "a gone")));
    }

    [Fact]
    public void Threads_with_the_same_base_subject_are_merged()
    {
        // no references at all: the reply becomes a child of the original by subject
        Assert.Equal("(1 2)(3)", References(M(1, "a", subject: "Plans"), M(2, "b", subject: "Re: plans"), M(3, "c", subject: "Other")));

        // two originals with the same subject: a dummy holds both
        Assert.Equal("((1)(2))", References(M(1, "a", subject: "Plans"), M(2, "b", subject: "Plans")));
    }

    [Fact]
    public void Loops_and_duplicate_ids_do_not_break_the_tree()
    {
        // 1 says it replies to 2, then 2 says it replies to 1: the second link would close a loop and is not made
        Assert.Equal("(2 1)", References(M(1, "a", "b"), M(2, "b", "a")));
        Assert.Equal("(1)(2)", References(M(1, "a", subject: "one"), M(2, "a", subject: "two")));
        Assert.Equal("(1)", References(M(1, "a", "a")));
    }

    [Fact]
    public void A_very_long_reply_chain_does_not_exhaust_the_stack()
    {
        var messages = Enumerable.Range(1, 100_000).Select(i => M(i, "m" + i, i == 1 ? "" : "m" + (i - 1), minutes: i)).ToArray();
        var formatted = References(messages);
        Assert.StartsWith("(1 2 3 ", formatted, StringComparison.Ordinal);
        Assert.EndsWith(" 99999 100000)", formatted, StringComparison.Ordinal);
    }

    [Fact]
    public void ORDEREDSUBJECT_groups_by_base_subject_and_orders_threads_by_their_first_date()
    {
        var messages = new[]
        {
            M(1, null, subject: "b", minutes: 5), M(2, null, subject: "Re: a", minutes: 1), M(3, null, subject: "A", minutes: 3),
            M(4, null, subject: "[list] Fwd: b", minutes: 2), M(5, null, subject: "a", minutes: 4),
        };
        Assert.Equal("(2 (3)(5))(4 1)", MessageThreader.Format(MessageThreader.OrderedSubject(messages), uid: false));
    }
}
