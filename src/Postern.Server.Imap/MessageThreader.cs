using System.Text;
using Postern.Mime.Views;

namespace Postern.Server.Imap;

/// <summary>What THREAD needs of one message: its number, ids, subject and sent date (RFC 5256 §2.2).</summary>
internal sealed record ThreadMessage(int Seq, long Uid, string? MessageId, IReadOnlyList<string> References, IReadOnlyList<string> InReplyTo, string? Subject, DateTimeOffset SentDate);

/// <summary>A node of a thread tree; a node without a message is a dummy standing for one the folder lacks.</summary>
internal sealed class ThreadNode(ThreadMessage? message)
{
    public ThreadMessage? Message { get; set; } = message;

    public ThreadNode? Parent { get; set; }

    public List<ThreadNode> Children { get; set; } = [];

    public void Adopt(ThreadNode child)
    {
        child.Parent?.Children.Remove(child);
        child.Parent = this;
        Children.Add(child);
    }

    public void Orphan()
    {
        Parent?.Children.Remove(this);
        Parent = null;
    }
}

/// <summary>
/// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3), and the THREAD response's nested lists. Every walk
/// over the trees is iterative: a folder of long reply chains must not exhaust the stack.
/// </summary>
internal static class MessageThreader
{
    public static List<ThreadNode> OrderedSubject(IReadOnlyList<ThreadMessage> messages)
    {
        var sorted = messages
            .Select(m => (Message: m, Base: BaseSubject.Of(m.Subject)))
            .OrderBy(x => x.Base, StringComparer.OrdinalIgnoreCase)
            .ThenBy(x => x.Message.SentDate.UtcTicks)
            .ThenBy(x => x.Message.Seq)
            .ToList();
        var roots = new List<ThreadNode>();
        ThreadNode? current = null;
        string? currentSubject = null;
        foreach (var (message, baseSubject) in sorted)
        {
            var node = new ThreadNode(message);
            if (current is not null && string.Equals(currentSubject, baseSubject, StringComparison.OrdinalIgnoreCase))
            {
                current.Adopt(node);
                continue;
            }

            current = node;
            currentSubject = baseSubject;
            roots.Add(node);
        }

        roots.Sort(CompareByDate);
        return roots;
    }

    public static List<ThreadNode> References(IReadOnlyList<ThreadMessage> messages)
    {
        // (1) Link messages by their ids.
        var byId = new Dictionary<string, ThreadNode>(StringComparer.Ordinal);
        var all = new List<ThreadNode>();
        ThreadNode Container(string id)
        {
            if (!byId.TryGetValue(id, out var node))
            {
                node = new ThreadNode(null);
                byId[id] = node;
                all.Add(node);
            }

            return node;
        }

        foreach (var m in messages.OrderBy(m => m.Seq))
        {
            ThreadNode own;
            if (!string.IsNullOrEmpty(m.MessageId) && (!byId.TryGetValue(m.MessageId, out var existing) || existing.Message is null))
            {
                own = Container(m.MessageId);
                own.Message = m;
            }
            else
            {
                // No Message-ID, or one already taken by another message: a unique id of its own.
                own = new ThreadNode(m);
                all.Add(own);
            }

            IReadOnlyList<string> refs = m.References.Count > 0 ? m.References : m.InReplyTo.Count > 0 ? [m.InReplyTo[0]] : [];
            ThreadNode? previous = null;
            foreach (var id in refs)
            {
                var node = Container(id);
                if (previous is not null && node.Parent is null && node != previous && !IsAncestorOrSelf(node, previous))
                {
                    previous.Adopt(node);
                }

                previous = node;
            }

            // (1)(B) The last reference is the parent: it overrides a parent guessed from other References fields.
            if (previous is null)
            {
                own.Orphan();
            }
            else if (previous != own && !IsAncestorOrSelf(own, previous))
            {
                previous.Adopt(own);
            }
        }

        // (2) The root set, (4) pruned of dummies.
        var roots = Prune(all.Where(n => n.Parent is null).ToList());

        // (4) Sorted by date, then (5) gathered by base subject.
        SortTree(roots);
        roots = GroupBySubject(roots);

        // (6) Every set of siblings by date.
        SortTree(roots);
        return roots;
    }

    /// <summary>The THREAD response's lists: "(1 2 (3)(4 5))" per thread, message numbers or UIDs.</summary>
    public static string Format(IEnumerable<ThreadNode> roots, bool uid)
    {
        var sb = new StringBuilder();
        var stack = new Stack<object>();
        foreach (var root in roots)
        {
            stack.Push(")");
            stack.Push(root);
            stack.Push("(");
            while (stack.Count > 0)
            {
                var item = stack.Pop();
                if (item is string literal)
                {
                    sb.Append(literal);
                    continue;
                }

                var node = (ThreadNode)item;
                if (node.Message is { } m)
                {
                    sb.Append(uid ? m.Uid : m.Seq);
                    if (node.Children.Count == 0)
                    {
                        continue;
                    }

                    sb.Append(' ');
                    if (node.Children.Count == 1)
                    {
                        stack.Push(node.Children[0]);
                        continue;
                    }
                }

                for (var i = node.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push(")");
                    stack.Push(node.Children[i]);
                    stack.Push("(");
                }
            }
        }

        return sb.ToString();
    }

    private static bool IsAncestorOrSelf(ThreadNode candidate, ThreadNode node)
    {
        if (candidate != node && candidate.Children.Count == 0)
        {
            // A node without children is nobody's ancestor: no walk up a long chain.
            return false;
        }

        for (var n = (ThreadNode?)node; n is not null; n = n.Parent)
        {
            if (n == candidate)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Nodes, parents after all their descendants.</summary>
    private static List<ThreadNode> DeepestFirst(IEnumerable<ThreadNode> roots)
    {
        var order = new List<ThreadNode>(roots);
        for (var i = 0; i < order.Count; i++)
        {
            order.AddRange(order[i].Children);
        }

        order.Reverse();
        return order;
    }

    /// <summary>
    /// (3) A dummy without children goes; a dummy with children gives them to its parent, except at the top where
    /// it stays when it has more than one (they would otherwise become separate threads).
    /// </summary>
    private static List<ThreadNode> Prune(List<ThreadNode> roots)
    {
        foreach (var node in DeepestFirst(roots))
        {
            node.Children = Promote(node, node.Children, top: false);
        }

        return Promote(null, roots, top: true);
    }

    private static List<ThreadNode> Promote(ThreadNode? parent, List<ThreadNode> siblings, bool top)
    {
        var kept = new List<ThreadNode>(siblings.Count);
        foreach (var child in siblings)
        {
            if (child.Message is not null || (top && child.Children.Count > 1))
            {
                kept.Add(child);
                continue;
            }

            foreach (var grandchild in child.Children)
            {
                grandchild.Parent = parent;
                kept.Add(grandchild);
            }
        }

        return kept;
    }

    private static void SortTree(List<ThreadNode> roots)
    {
        foreach (var node in DeepestFirst(roots))
        {
            node.Children.Sort(CompareByDate);
        }

        roots.Sort(CompareByDate);
    }

    /// <summary>By sent date, then by message number; a dummy by its first child.</summary>
    private static int CompareByDate(ThreadNode a, ThreadNode b)
    {
        var x = Representative(a);
        var y = Representative(b);
        if (x is null || y is null)
        {
            return (x is null).CompareTo(y is null);
        }

        var byDate = x.SentDate.UtcTicks.CompareTo(y.SentDate.UtcTicks);
        return byDate != 0 ? byDate : x.Seq.CompareTo(y.Seq);
    }

    private static ThreadMessage? Representative(ThreadNode node)
    {
        var n = node;
        while (n.Message is null && n.Children.Count > 0)
        {
            n = n.Children[0];
        }

        return n.Message;
    }

    /// <summary>(5) Threads whose top messages share a base subject become one.</summary>
    private static List<ThreadNode> GroupBySubject(List<ThreadNode> roots)
    {
        var table = new Dictionary<string, ThreadNode>(StringComparer.OrdinalIgnoreCase);
        foreach (var root in roots)
        {
            var (subject, reply) = SubjectOf(root);
            if (subject.Length == 0)
            {
                continue;
            }

            if (!table.TryGetValue(subject, out var held))
            {
                table[subject] = root;
            }
            else if (held.Message is not null && (root.Message is null || (SubjectOf(held).Reply && !reply)))
            {
                table[subject] = root;
            }
        }

        var result = new List<ThreadNode>(roots);
        var removed = new HashSet<ThreadNode>();
        foreach (var root in roots)
        {
            var (subject, reply) = SubjectOf(root);
            if (subject.Length == 0 || !table.TryGetValue(subject, out var held) || held == root || removed.Contains(root))
            {
                continue;
            }

            if (held.Message is null && root.Message is null)
            {
                foreach (var child in root.Children.ToList())
                {
                    held.Adopt(child);
                }
            }
            else if (held.Message is null)
            {
                held.Adopt(root);
            }
            else if (root.Message is not null && reply && !SubjectOf(held).Reply)
            {
                held.Adopt(root);
            }
            else
            {
                var dummy = new ThreadNode(null);
                result[result.IndexOf(held)] = dummy;
                dummy.Adopt(held);
                dummy.Adopt(root);
                table[subject] = dummy;
            }

            removed.Add(root);
        }

        result.RemoveAll(removed.Contains);
        return result;
    }

    private static (string Subject, bool Reply) SubjectOf(ThreadNode node)
    {
        var message = node.Message ?? (node.Children.Count > 0 ? node.Children[0].Message : null);
        var subject = BaseSubject.Of(message?.Subject, out var reply);
        return (subject, reply);
    }
}
